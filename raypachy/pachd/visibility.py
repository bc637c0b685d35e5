"""What a caller sees of a listing once auth is active: the objects it may read, never a
refusal.

Pachyderm answers ``list repo`` with the repos whose project lets the caller list its repos
or that the caller may read, and skips the others without an error, so a user without any
role gets an empty list (``listRepoInTransaction`` and ``hasProjectAccess`` in
``src/server/pfs/server/driver.go`` of Pachyderm 2.x). raypachy answers every listing across
objects that way: repos, pipelines (by their output repo, of the same name), jobs (by their
pipeline), commits and commit sets (by their repo), transactions (by every repo their
operations name); ``raypachy.pachd.access.sift`` says which entry names what. Naming one object
the caller may not read (``inspect repo``, ``list commit REPO``) stays a 403 naming the role it
lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raypachy.pachd.roles import ROLES, Permission
from raypachy.pfs.model import project_of_key

if TYPE_CHECKING:
    from raypachy.pfs.metadata import RoleBindingRecord


@dataclass(frozen=True, slots=True)
class Sight:
    """The repos a caller may see: all of them, every repo of some projects, some repos."""

    everything: bool = False
    projects: frozenset[str] = frozenset()
    repos: frozenset[str] = frozenset()

    def sees(self, repo: str) -> bool:
        """Whether the caller may see the repo (or the pipeline) of this key."""
        return self.everything or repo in self.repos or project_of_key(repo) in self.projects


#: A project role with either permission shows the caller every repo of the project
#: (``projectViewer`` and up, or a repo role granted on the project).
_PROJECT_WIDE = frozenset({Permission.PROJECT_LIST, Permission.REPO_READ})


def sight_of(bindings: Iterable[RoleBindingRecord]) -> Sight:
    """What a principal holding ``bindings`` sees."""
    projects: set[str] = set()
    repos: set[str] = set()
    for b in bindings:
        role = ROLES.get(b.role)
        if role is None:
            continue
        if b.kind == "cluster" and Permission.REPO_READ in role.permissions:
            return Sight(everything=True)
        if b.kind == "project" and role.permissions & _PROJECT_WIDE:
            projects.add(b.name)
        elif b.kind == "repo" and Permission.REPO_READ in role.permissions:
            repos.add(b.name)
    return Sight(projects=frozenset(projects), repos=frozenset(repos))
