"""Versioning: repos, commits, branches, files, provenance and the metadata store.

Knows nothing of pipelines and never imports ray. Names are loaded on first use, so that
importing ``raypachy.pfs.model`` (as the CLI does) does not load the storage engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raypachy.pfs.address import Address, parse_address
    from raypachy.pfs.glob import compile_glob, glob_match
    from raypachy.pfs.model import (
        Branch,
        Commit,
        CommitRef,
        FileChange,
        FileInfo,
        GCReport,
        Repo,
        to_json,
    )
    from raypachy.pfs.modification import Modification
    from raypachy.pfs.service import PFS, default_home

_EXPORTS = {
    "PFS": "raypachy.pfs.service",
    "default_home": "raypachy.pfs.service",
    "Modification": "raypachy.pfs.modification",
    "Address": "raypachy.pfs.address",
    "parse_address": "raypachy.pfs.address",
    "compile_glob": "raypachy.pfs.glob",
    "glob_match": "raypachy.pfs.glob",
    **{
        name: "raypachy.pfs.model"
        for name in (
            "Branch", "Commit", "CommitRef", "FileChange", "FileInfo", "GCReport", "Repo",
            "to_json",
        )
    },
}  # fmt: skip

__all__ = [
    "PFS",
    "Address",
    "Branch",
    "Commit",
    "CommitRef",
    "FileChange",
    "FileInfo",
    "GCReport",
    "Modification",
    "Repo",
    "compile_glob",
    "default_home",
    "glob_match",
    "parse_address",
    "to_json",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'raypachy.pfs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
