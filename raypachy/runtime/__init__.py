"""Everything that runs on Ray: the control plane actors, cluster up/down, job execution.

This is the only package that imports ray; ``runtime.state`` does not, so the CLI can
find a running cluster without paying for ``import ray``.
"""
