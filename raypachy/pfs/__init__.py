"""Versioning: repos, commits, branches, files, provenance and the metadata store.

Knows nothing of pipelines and never imports ray.
"""

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
from raypachy.pfs.service import PFS, Modification, default_home

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
