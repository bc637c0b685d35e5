"""Validation of repo and branch names and normalisation of file paths."""

from __future__ import annotations

import re

from raypachy.errors import InvalidNameError, InvalidPathError

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_COMMIT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def check_repo_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidNameError(f"invalid repo name {name!r}: use 1-63 letters, digits, '_' or '-'")
    return name


def check_branch_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidNameError(
            f"invalid branch name {name!r}: use 1-63 letters, digits, '_' or '-'"
        )
    if is_commit_id(name):
        raise InvalidNameError(
            f"invalid branch name {name!r}: 32 hex characters would read as a commit id"
        )
    return name


def is_commit_id(text: str) -> bool:
    return bool(_COMMIT_ID_RE.match(text))


def normalize_path(path: str, allow_root: bool = True) -> str:
    """``/a//b/`` -> ``/a/b``. Paths are absolute; ``.``, ``..``, NUL and empty are refused."""
    if not isinstance(path, str) or path == "":
        raise InvalidPathError("empty path: give an absolute path such as /data/file.csv")
    if "\x00" in path:
        raise InvalidPathError(f"path {path!r} contains a NUL byte")
    if not path.startswith("/"):
        raise InvalidPathError(f"path {path!r} is relative: paths start with '/', e.g. '/{path}'")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidPathError(f"path {path!r} contains '.' or '..': use a normalised path")
    clean = "/" + "/".join(parts)
    if clean == "/" and not allow_root:
        raise InvalidPathError("path '/' is the root directory: name a file, e.g. /data.csv")
    return clean


def join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name.lstrip("/")
