"""The domain objects of PFS: immutable, slotted, and easy to print as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from raypachy.pfs.names import DEFAULT_PROJECT

CommitId = str  # 32 hex characters; one user change gives one id to every commit it causes


def utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def project_of_key(key: str) -> str:
    """The project of a repo or pipeline key (``staging/images`` -> ``staging``)."""
    return key.rpartition("/")[0] or DEFAULT_PROJECT


def to_json(obj: Any) -> Any:
    """Turn domain objects (and lists of them) into plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for name in getattr(obj, "JSON_EXTRA", ()):
            out[name] = to_json(getattr(obj, name))
        return out
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, (list, tuple)):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


@dataclass(frozen=True, slots=True)
class CommitRef:
    """A commit named by repo and id: ``repo@id``."""

    repo: str
    id: CommitId

    def __str__(self) -> str:
        return f"{self.repo}@{self.id}"


@dataclass(frozen=True, slots=True)
class Project:
    """A namespace of repos and pipelines (Pachyderm 2.5+); ``default`` always exists."""

    name: str
    description: str
    created: datetime | None  # None for the default project, which nobody created


@dataclass(frozen=True, slots=True)
class Repo:
    name: str
    created: datetime
    description: str
    size_bytes: int  # of the master branch head, as in Pachyderm
    metadata: dict[str, str] = field(default_factory=dict)  # the user's key-value pairs

    #: Shown in JSON beside the fields (read-only: derived from the key).
    JSON_EXTRA: ClassVar[tuple[str, ...]] = ("project",)

    @property
    def project(self) -> str:
        return project_of_key(self.name)


@dataclass(frozen=True, slots=True)
class Trigger:
    """When a branch moves to the head of ``branch`` (Pachyderm's deferred processing):
    once ``size`` bytes or ``commits`` commits arrived there since it last moved, or a
    ``cron_spec`` tick passed; any of them, or every one with ``all``."""

    branch: str
    size: str = ""  # as the user wrote it ("100MB")
    commits: int = 0
    cron_spec: str = ""
    all: bool = False


@dataclass(frozen=True, slots=True)
class Branch:
    repo: str
    name: str
    head: CommitId | None
    metadata: dict[str, str] = field(default_factory=dict)
    trigger: Trigger | None = None

    #: Shown in JSON beside the fields (read-only: derived from the key).
    JSON_EXTRA: ClassVar[tuple[str, ...]] = ("project",)

    @property
    def project(self) -> str:
        return project_of_key(self.repo)


@dataclass(frozen=True, slots=True)
class Commit:
    repo: str
    id: CommitId
    branch: str | None
    parent: CommitId | None
    origin: Literal["user", "auto"]
    description: str
    started: datetime
    finished: datetime | None
    error: str | None
    size_bytes: int | None
    file_count: int | None
    provenance: tuple[CommitRef, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> CommitRef:
        return CommitRef(self.repo, self.id)

    #: Shown in JSON beside the fields (read-only: derived from the key).
    JSON_EXTRA: ClassVar[tuple[str, ...]] = ("project",)

    @property
    def project(self) -> str:
        return project_of_key(self.repo)


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    type: Literal["file", "dir"]
    size_bytes: int
    hash: str  # hex; for a directory, a hash over its files' paths and hashes
    commit: CommitRef


@dataclass(frozen=True, slots=True)
class FileChange:
    """One path that differs between two commits."""

    path: str
    change: Literal["added", "deleted", "modified"]
    old: FileInfo | None
    new: FileInfo | None


@dataclass(frozen=True, slots=True)
class GCReport:
    manifests_deleted: int
    chunks_deleted: int
    temp_files_deleted: int
    chunks_kept: int
    #: Manifests that commits reference but that are missing or corrupted (see ``fsck``);
    #: while there are any, gc keeps every chunk.
    unreadable_manifests: int = 0


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken invariant: what kind, which object, what is wrong, whether it was fixed."""

    kind: str
    subject: str
    message: str
    fixed: bool = False


@dataclass(frozen=True, slots=True)
class FsckReport:
    """What `fsck` looked at and what it found."""

    commits: int
    manifests: int
    chunks: int
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(p.fixed for p in self.problems)
