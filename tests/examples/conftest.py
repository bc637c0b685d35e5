from tests.pps.conftest import local  # noqa: F401  (the in-process installation fixture)
