"""Projects (Pachyderm 2.5+): namespaces of repos and pipelines.

A repo or pipeline is known inside raypachy by one key: its plain name in the ``default``
project, ``project/name`` in any other (so ``a/images`` and ``b/images`` are two repos, and
every table, lease and storage key that names a repo needs no project column). The public
objects show the project beside the key.

Projects themselves are rows of the users' metadata table (kind ``project``), which both
metadata stores already hold; the ``default`` project always exists and is never stored.
"""

from __future__ import annotations

import time

from raypachy.errors import ProjectExistsError, ProjectNotFoundError
from raypachy.pfs.metadata import Tx
from raypachy.pfs.model import Project, utc
from raypachy.pfs.names import DEFAULT_PROJECT, check_project_name

__all__ = ["DEFAULT_PROJECT", "Project", "key", "name_of", "project_of"]

_KIND, _REPO = "project", ""


def key(project: str | None, name: str) -> str:
    """The key of ``name`` in ``project`` (a name that already names its project is kept)."""
    if "/" in name:
        owner, _, plain = name.rpartition("/")
        return plain if owner == DEFAULT_PROJECT else name
    if project in (None, "", DEFAULT_PROJECT):
        return name
    return f"{project}/{name}"


def project_of(key_: str) -> str:
    """The project of a repo or pipeline key."""
    project, sep, _ = key_.rpartition("/")
    return project if sep else DEFAULT_PROJECT


def name_of(key_: str) -> str:
    """The plain name of a repo or pipeline key, without its project."""
    return key_.rpartition("/")[2]


def _from_row(name: str, row: dict[str, object]) -> Project:
    created = row.get("created")
    return Project(
        name,
        str(row.get("description", "")),
        utc(float(created)) if isinstance(created, (int, float)) else None,
    )


def get(tx: Tx, name: str) -> Project:
    """One project, or ``ProjectNotFoundError`` saying how to create it."""
    check_project_name(name)
    if name == DEFAULT_PROJECT:
        return Project(DEFAULT_PROJECT, "the default project", None)
    row = tx.object_metadata(_KIND, _REPO, name)
    if row is None:
        raise ProjectNotFoundError(
            f"project {name} not found: create it with `raypachy create project {name}`"
        )
    return _from_row(name, row)


def exists(tx: Tx, name: str) -> bool:
    return name == DEFAULT_PROJECT or tx.object_metadata(_KIND, _REPO, name) is not None


def require(tx: Tx, key_: str) -> None:
    """Refuse a repo or pipeline key whose project does not exist."""
    get(tx, project_of(key_))


def all_projects(tx: Tx) -> list[Project]:
    rows = tx.objects_metadata(_KIND, _REPO)
    return [get(tx, DEFAULT_PROJECT)] + [
        _from_row(name, rows[name]) for name in sorted(rows) if name != DEFAULT_PROJECT
    ]


def create(tx: Tx, name: str, description: str, update: bool = False) -> Project:
    check_project_name(name)
    if exists(tx, name):
        if not update:
            raise ProjectExistsError(
                f"project {name} already exists (--update changes its description)"
            )
        if name == DEFAULT_PROJECT:
            return get(tx, name)
        row = dict(tx.object_metadata(_KIND, _REPO, name) or {})
        row["description"] = description
        tx.set_object_metadata(_KIND, _REPO, name, row)
        return _from_row(name, row)
    row = {"description": description, "created": time.time()}
    tx.set_object_metadata(_KIND, _REPO, name, row)
    return _from_row(name, row)


def forget(tx: Tx, name: str) -> None:
    """Remove a project's row (its repos and pipelines must be gone already)."""
    tx.set_object_metadata(_KIND, _REPO, name, None)


def members(keys: list[str], project: str) -> list[str]:
    """The keys among ``keys`` that live in ``project``."""
    return [k for k in keys if project_of(k) == project]
