"""Docstrings name only things that exist: a reader who follows one finds it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import raypachy

_DOTTED = re.compile(r"``(raypachy(?:\.[A-Za-z_][A-Za-z0-9_]*)+)``")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_dotted_name_in_a_docstring_exists() -> None:
    missing = []
    root = Path(raypachy.__file__).parent
    for path in sorted(root.rglob("*.py")):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        if name.startswith(("raypachy.runtime", "raypachy.data")):
            continue  # importing them starts nothing, but they need ray: keep this test light
        module = importlib.import_module(name)
        for dotted in _DOTTED.findall(module.__doc__ or ""):
            if not _resolves(dotted):
                missing.append(f"{name}: {dotted}")
    assert not missing
