"""The ``raypachy`` command line: pachctl's verbs and addresses, rich tables, ``-o json``."""
