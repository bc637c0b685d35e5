"""The curated public surface: these names are a promise to users."""

from __future__ import annotations

import inspect
import subprocess
import sys

import raypachy
import raypachy.errors
import raypachy.pfs


def test_exported_names() -> None:
    assert sorted(raypachy.__all__) == [
        "API", "Client", "DatumContext", "PFS", "Pachd", "Pipeline", "RaypachyError",
        "__version__", "connect",
        "cron", "cross", "group", "join", "next_datum", "pfs", "pipeline", "spout", "union",
    ]  # fmt: skip
    for name in raypachy.__all__:
        assert getattr(raypachy, name) is not None
    for name in raypachy.pfs.__all__:
        assert getattr(raypachy.pfs, name) is not None


def test_every_error_is_a_raypachy_error_with_a_code() -> None:
    for value in vars(raypachy.errors).values():
        if (
            isinstance(value, type)
            and issubclass(value, Exception)
            and value.__module__ == "raypachy.errors"
        ):
            assert issubclass(value, raypachy.errors.RaypachyError)
            assert value.code and 400 <= value.http_status < 600


def test_cli_import_path_stays_free_of_ray_and_pyarrow() -> None:
    code = (
        "import sys, raypachy.cli.main, raypachy.client; "
        "print(sorted(m for m in ('ray', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_method_says_what_it_does() -> None:
    """One line at least, on the API's implementations and on PFS (a method without its own
    docstring inherits the ``API``'s: ``help(client.finish_commit)`` shows it)."""
    for cls in (raypachy.Client, raypachy.Pachd, raypachy.PFS, raypachy.API):
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") or not (callable(member) or isinstance(member, property)):
                continue
            doc = inspect.getdoc(member)
            assert doc and doc.split("\n", 1)[0].strip(), f"{cls.__name__}.{name}"
