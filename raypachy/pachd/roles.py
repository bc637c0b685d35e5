"""Users and roles, Pachyderm's model: what each role lets its holder do, and on what.

A role is held by a principal (``user:alice``; ``pach:root`` is the root user that ``auth
activate`` creates) on an object: a repo, a project (``default`` holds the repos named
without one) or the cluster. A repo role granted on a project holds on every repo in it.

==============  ===============  ===========================================================
role            granted on       lets its holder
==============  ===============  ===========================================================
repoReader      repo, project    read the repo: branches, commits, files, its pipeline, jobs
repoWriter      repo, project    repoReader, and write it: commits, files, branches; start,
                                 stop and update its pipeline; stop jobs, restart datums
repoOwner       repo, project    repoWriter, and delete it, and grant roles on it
projectViewer   project          list the project's repos, pipelines, jobs and commit sets
projectWriter   project          projectViewer, and create repos and pipelines (the creator
                                 becomes repoOwner of what it creates)
projectOwner    project          projectWriter, repoOwner on every repo, and grant roles on
                                 the project
clusterAdmin    cluster          everything: secrets, gc, fsck, users' tokens, the audit log
==============  ===============  ===========================================================

Import cost matters: the CLI loads this module, so it holds plain data only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from raypachy.errors import InvalidArgumentError

ROOT = "pach:root"
DEFAULT_PROJECT = "default"
KINDS = ("repo", "project", "cluster")


class Permission(enum.Enum):
    REPO_READ = "repo read"
    REPO_WRITE = "repo write"
    REPO_OWN = "repo own"  # delete a repo, change its role bindings
    PROJECT_LIST = "project list"
    PROJECT_CREATE = "project create"  # create repos and pipelines in it
    PROJECT_OWN = "project own"  # change the project's role bindings
    CLUSTER_ADMIN = "cluster admin"


P = Permission
_READ = frozenset({P.REPO_READ})
_WRITE = _READ | {P.REPO_WRITE}
_OWN = _WRITE | {P.REPO_OWN}
_VIEW = frozenset({P.PROJECT_LIST})
_PROJECT_WRITE = _VIEW | {P.PROJECT_CREATE}
_PROJECT_OWN = _PROJECT_WRITE | _OWN | {P.PROJECT_OWN}


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    kinds: tuple[str, ...]  # the kinds of object it may be granted on
    permissions: frozenset[Permission]


ROLES: Mapping[str, Role] = MappingProxyType(
    {
        r.name: r
        for r in (
            Role("repoReader", ("repo", "project"), _READ),
            Role("repoWriter", ("repo", "project"), _WRITE),
            Role("repoOwner", ("repo", "project"), _OWN),
            Role("projectViewer", ("project",), _VIEW),
            Role("projectWriter", ("project",), _PROJECT_WRITE),
            Role("projectOwner", ("project",), _PROJECT_OWN),
            Role("clusterAdmin", ("cluster",), frozenset(Permission)),
        )
    }
)

#: The role a denial names: the least one that grants the permission, on the object asked.
LEAST_ROLE: Mapping[Permission, str] = MappingProxyType(
    {
        P.REPO_READ: "repoReader",
        P.REPO_WRITE: "repoWriter",
        P.REPO_OWN: "repoOwner",
        P.PROJECT_LIST: "projectViewer",
        P.PROJECT_CREATE: "projectWriter",
        P.PROJECT_OWN: "projectOwner",
        P.CLUSTER_ADMIN: "clusterAdmin",
    }
)

#: The kind of object each permission is asked of.
PERMISSION_KIND: Mapping[Permission, str] = MappingProxyType(
    {
        P.REPO_READ: "repo",
        P.REPO_WRITE: "repo",
        P.REPO_OWN: "repo",
        P.PROJECT_LIST: "project",
        P.PROJECT_CREATE: "project",
        P.PROJECT_OWN: "project",
        P.CLUSTER_ADMIN: "cluster",
    }
)

_PRINCIPAL = re.compile(r"^(user|pipeline|pach):[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_TTL = re.compile(r"^(\d+)([smhdw])$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class Need:
    """One permission a request needs, on one object (``name`` empty for the cluster)."""

    permission: Permission
    name: str = ""

    @property
    def kind(self) -> str:
        return PERMISSION_KIND[self.permission]

    def describe(self) -> str:
        kind = self.kind
        return "the cluster" if kind == "cluster" else f"{kind} {self.name}"


def check_user(user: str) -> str:
    """A user name (``alice``; ``user:alice`` is taken as ``alice``)."""
    user = user.removeprefix("user:")
    if not _USER.match(user):
        raise InvalidArgumentError(
            f"bad user name {user!r}: use letters, digits and _ . @ + - (like alice or "
            "alice@example.com)"
        )
    return user


def check_principal(principal: str) -> str:
    """``user:NAME`` (a bare name is a user), ``pipeline:NAME`` or ``pach:root``."""
    if ":" not in principal:
        principal = f"user:{principal}"
    if not _PRINCIPAL.match(principal):
        raise InvalidArgumentError(
            f"bad principal {principal!r}: give user:NAME (like user:alice) or pipeline:NAME"
        )
    return principal


def check_object(kind: str, name: str) -> tuple[str, str]:
    """(kind, name) of an object roles are granted on; only the project ``default`` exists."""
    if kind not in KINDS:
        raise InvalidArgumentError(f"bad object kind {kind!r}: give repo, project or cluster")
    if kind == "cluster":
        return kind, ""
    if kind == "project" and not _NAME.match(name):
        raise InvalidArgumentError(
            f"bad project name {name!r}: use 1-63 letters, digits, '_' or '-' "
            f"(the default project is {DEFAULT_PROJECT!r})"
        )
    if not name:
        raise InvalidArgumentError(f"give the name of the {kind}")
    return kind, name


def check_role(kind: str, role: str) -> Role:
    """The role ``role``, if it can be granted on a ``kind``."""
    found = ROLES.get(role)
    if found is None:
        raise InvalidArgumentError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if kind not in found.kinds:
        raise InvalidArgumentError(
            f"{role} is granted on a {' or a '.join(found.kinds)}, not on a {kind}: "
            f"`raypachy auth set {found.kinds[0]} ...`"
        )
    return found


def parse_ttl(ttl: str | None) -> float | None:
    """Seconds of ``30d``, ``12h``, ``90m``, ``45s``, ``2w``; None: no expiry."""
    if ttl is None or ttl == "":
        return None
    match = _TTL.match(ttl.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidArgumentError(
            f"bad --ttl {ttl!r}: give a positive number and a unit, like 30d, 12h, 90m or 45s"
        )
    return float(int(match.group(1)) * _TTL_UNITS[match.group(2)])
