"""The project verbs of pachd: create, inspect, list and delete projects (Pachyderm 2.5+).

Deleting a project that still holds repos or pipelines is refused; with ``force`` its
pipelines go first (readers before the pipelines they read), then its repos.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raypachy.errors import ConflictError, InvalidArgumentError, ProjectNotEmptyError
from raypachy.pfs import projects
from raypachy.pfs.model import Project
from raypachy.pfs.names import DEFAULT_PROJECT, check_project_name
from raypachy.pps import defaults
from raypachy.pps.datums import iter_leaves
from raypachy.pps.spec import parse_spec

if TYPE_CHECKING:
    from raypachy.pachd.local import Pachd


def create(pachd: Pachd, name: str, description: str, update: bool) -> Project:
    with pachd.pfs.meta.write() as tx:
        return projects.create(tx, name, description, update)


def inspect(pachd: Pachd, name: str) -> Project:
    with pachd.pfs.meta.read() as tx:
        return projects.get(tx, name)


def list_all(pachd: Pachd) -> list[Project]:
    with pachd.pfs.meta.read() as tx:
        return projects.all_projects(tx)


def _contents(pachd: Pachd, name: str) -> tuple[list[str], list[str]]:
    """The keys of the project's pipelines, readers first, and of its repos; refuses a
    project whose pipelines' outputs feed pipelines of other projects."""
    with pachd.pfs.meta.read() as tx:
        every = {r.name: r for r in tx.pipelines()}
        repos = [r.name for r in tx.repos() if projects.project_of(r.name) == name]
    reads = {
        key: {leaf.repo for leaf in iter_leaves(parse_spec(row.spec).input, key)}
        for key, row in every.items()
    }
    rows = {key: row for key, row in every.items() if projects.project_of(key) == name}
    for key in sorted(every):
        fed = sorted(reads[key] & set(rows))
        if key not in rows and fed:
            raise ConflictError(
                f"pipeline {key} of another project reads the output of {fed[0]}: delete "
                f"or update it before project {name}"
            )
    ordered: list[str] = []
    todo = set(rows)
    while todo:  # a pipeline goes once no pipeline left reads its output
        free = sorted(p for p in todo if not any(p in reads[q] for q in todo if q != p))
        ordered += free or sorted(todo)  # a cycle cannot exist; never loop forever anyway
        todo -= set(free or todo)
    return ordered, repos


def delete(pachd: Pachd, name: str, force: bool) -> list[str]:
    check_project_name(name)
    if name == DEFAULT_PROJECT:
        raise InvalidArgumentError("the default project cannot be deleted")
    inspect(pachd, name)  # refuses an unknown project
    pipelines, repos = _contents(pachd, name)
    if (pipelines or repos) and not force:
        held = [f"{len(pipelines)} pipeline(s)"] if pipelines else []
        held += [f"{len(repos)} repo(s)"] if repos else []
        first = (pipelines or repos)[0]
        raise ProjectNotEmptyError(
            f"project {name} still holds {' and '.join(held)} (e.g. {first}): delete them "
            f"first, or use `raypachy delete project {name} --force`"
        )
    deleted = []
    for key in pipelines:
        pachd.delete_pipeline(key)
        pachd.auth_deleted(key)  # its output repo's roles go with it
        deleted.append(f"pipeline {key}")
    with pachd.pfs.meta.read() as tx:  # what is left: pipelines took their output and tick repos
        repos = [r.name for r in tx.repos() if projects.project_of(r.name) == name]
    for key in repos:
        if key not in pipelines:
            for line in pachd.delete_repo(key, force=True):
                deleted.append(f"warning: {line}")
            pachd.auth_deleted(key)
            deleted.append(f"repo {key}")
    with pachd.pfs.meta.write() as tx:
        defaults.forget(tx, name)
        projects.forget(tx, name)
    return deleted
