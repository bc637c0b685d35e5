"""``raypachy.Client``: the API over HTTP (``raypachy.connect()`` finds the cluster).

Loaded on first use, so the client's small modules (its config file) import without the
HTTP stack: a CLI call that never talks to the API does not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raypachy.client.client import Client, connect
    from raypachy.client.transport import DEFAULT_ADDRESS

_LAZY = {
    "Client": "raypachy.client.client",
    "connect": "raypachy.client.client",
    "DEFAULT_ADDRESS": "raypachy.client.transport",
}

__all__ = ["DEFAULT_ADDRESS", "Client", "connect"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
