"""raypachy: Git for data and data-driven pipelines, as a plugin on Ray.

    import raypachy
    client = raypachy.connect()          # the local cluster (started if needed) or RAYPACHY_ADDRESS
    client.create_repo("images")

Names load on first use, so ``import raypachy`` stays cheap (no ray, no pyarrow).
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

from raypachy._version import __version__
from raypachy.errors import RaypachyError

if TYPE_CHECKING:
    from raypachy.client import Client, connect
    from raypachy.pachd import API, Pachd
    from raypachy.pfs.service import PFS
    from raypachy.pps.decorator import Pipeline, pipeline, spout
    from raypachy.pps.inputs import cron, cross, group, join, union
    from raypachy.pps.nextdatum import next_datum
    from raypachy.pps.worker import DatumContext

_LAZY = {
    "API": "raypachy.pachd",
    "Pachd": "raypachy.pachd",
    "Client": "raypachy.client",
    "connect": "raypachy.client",
    "PFS": "raypachy.pfs.service",
    "pipeline": "raypachy.pps.decorator",
    "Pipeline": "raypachy.pps.decorator",
    "spout": "raypachy.pps.decorator",
    "DatumContext": "raypachy.pps.worker",
    "cross": "raypachy.pps.inputs",
    "union": "raypachy.pps.inputs",
    "join": "raypachy.pps.inputs",
    "group": "raypachy.pps.inputs",
    "cron": "raypachy.pps.inputs",
    "next_datum": "raypachy.pps.nextdatum",
}

__all__ = [
    "API",
    "PFS",
    "Client",
    "DatumContext",
    "Pachd",
    "Pipeline",
    "RaypachyError",
    "__version__",
    "connect",
    "cron",
    "cross",
    "group",
    "join",
    "next_datum",
    "pfs",
    "pipeline",
    "spout",
    "union",
]


class _CallablePfs(types.ModuleType):
    """``raypachy.pfs("images", glob="/*")`` is a pipeline's pfs input, as in a spec's
    ``"input": {"pfs": {...}}``; the package itself stays the versioning library (below
    pipelines: the call is wired here, at the top, so ``raypachy.pfs`` never imports pps)."""

    def __call__(self, repo: str, glob: str = "/", **options: Any) -> Any:
        from raypachy.pps.inputs import pfs as pfs_input

        return pfs_input(repo, glob, **options)


importlib.import_module("raypachy.pfs").__class__ = _CallablePfs  # its __init__ loads nothing


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'raypachy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
