"""Pipelines defined in a Python file: what ``raypachy create pipeline -f FILE.py`` loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raypachy import errors


def load_pipelines(path: str) -> list[Any]:
    """The ``@raypachy.pipeline`` functions of a Python file (``FILE.py[:NAME]``)."""
    import importlib.util
    import sys

    from raypachy.pps.decorator import Pipeline

    file, _, name = path.partition(":")
    source = Path(file)
    if not source.is_file():
        raise errors.InvalidArgumentError(f"python file {file} not found")
    module_name = f"raypachy_user_{source.stem}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(source.parent.resolve()))
    spec.loader.exec_module(module)
    found = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    if name:
        found = [p for p in found if p.name == name or p.fn.__name__ == name]
    if not found:
        what = f" named {name}" if name else ""
        raise errors.InvalidArgumentError(f"{file} defines no @raypachy.pipeline{what}")
    return found
