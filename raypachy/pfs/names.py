"""Validation of repo and branch names and normalisation of file paths."""

from __future__ import annotations

import re

from raypachy.errors import InvalidNameError, InvalidPathError

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_COMMIT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
# What every local filesystem can hold, so any commit can be exported (PATH_MAX, NAME_MAX).
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def shown(text: object, limit: int = 80) -> str:
    """``repr`` of user input for an error message, cut short if long."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[: limit - 15]}...' ({len(str(text))} chars)"


#: The project every installation has; its repos and pipelines go by their plain names.
DEFAULT_PROJECT = "default"


def check_project_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidNameError(
            f"invalid project name {shown(name)}: use 1-63 letters, digits, '_' or '-'"
        )
    return name


def check_repo_name(name: str) -> str:
    """A repo (or pipeline) name, plain or qualified by its project (``staging/images``);
    returns its key: the plain name in the default project, ``project/name`` elsewhere."""
    project, sep, plain = name.rpartition("/") if isinstance(name, str) else ("", "", name)
    if not isinstance(plain, str) or not _NAME_RE.match(plain):
        raise InvalidNameError(
            f"invalid repo name {shown(name)}: use 1-63 letters, digits, '_' or '-' "
            "(after 'project/' to name another project's repo)"
        )
    if sep:
        check_project_name(project)
    return plain if project in ("", DEFAULT_PROJECT) else name


def check_branch_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidNameError(
            f"invalid branch name {shown(name)}: use 1-63 letters, digits, '_' or '-'"
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
        raise InvalidPathError(f"path {shown(path)} contains a NUL byte")
    if not path.startswith("/"):
        raise InvalidPathError(
            f"path {shown(path)} is relative: paths start with '/', e.g. {shown('/' + path)}"
        )
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidPathError(f"path {shown(path)} contains '.' or '..': use a normalised path")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise InvalidPathError(f"path {shown(path)} is longer than {MAX_PATH_BYTES} bytes")
    long_part = next((p for p in parts if len(p.encode()) > MAX_NAME_BYTES), None)
    if long_part is not None:
        raise InvalidPathError(
            f"path {shown(path)} has a name longer than {MAX_NAME_BYTES} bytes: {shown(long_part)}"
        )
    clean = "/" + "/".join(parts)
    if clean == "/" and not allow_root:
        raise InvalidPathError("path '/' is the root directory: name a file, e.g. /data.csv")
    return clean


def join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name.lstrip("/")
