"""pachd: the API of raypachy, one implementation in this process, and the verb table.

``API`` (``raypachy.pachd.api``) is the typed Protocol of every verb; ``Pachd``
(``raypachy.pachd.local``) implements it over PFS and PPS, and ``raypachy.Client`` over
HTTP. ``raypachy.pachd.verbs`` says how each verb travels. Names load on first use: the
CLI reads the verb table without loading the storage engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raypachy.pachd.api import API, UNSET
    from raypachy.pachd.local import Pachd

_EXPORTS = {
    "API": "raypachy.pachd.api",
    "UNSET": "raypachy.pachd.api",
    "Pachd": "raypachy.pachd.local",
}

__all__ = ["API", "UNSET", "Pachd"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'raypachy.pachd' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
