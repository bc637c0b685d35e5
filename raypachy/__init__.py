"""raypachy: Git for data and data-driven pipelines, as a plugin on Ray.

    import raypachy
    client = raypachy.connect()          # the local cluster (started if needed) or RAYPACHY_ADDRESS
    client.create_repo("images")

Names load on first use, so ``import raypachy`` stays cheap (no ray, no pyarrow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from raypachy._version import __version__
from raypachy.errors import RaypachyError

if TYPE_CHECKING:
    from raypachy.client import Client, connect
    from raypachy.pfs.service import PFS

_LAZY = {"Client": "raypachy.client", "connect": "raypachy.client", "PFS": "raypachy.pfs.service"}

__all__ = ["PFS", "Client", "RaypachyError", "__version__", "connect"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'raypachy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
