"""The rows of the metadata store as typed records: what every store reads and writes.

Plain data only. The store keeps pipeline, job and datum rows for ``raypachy.pps`` (one
database, so that a job and its output commit change in one transaction), but what the
rows mean (job states, specs, skipping) is decided above, in ``pps``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NewType

from raypachy.pfs.model import Commit, CommitRef, utc

if TYPE_CHECKING:  # the records load without the storage engine (the CLI reads job counts)
    from raypachy.storage.manifest import ManifestInfo

#: 32 hex characters.
CommitId = NewType("CommitId", str)
#: A job's id is the global id its output commit carries: a job id is a commit id.
JobId = NewType("JobId", CommitId)
DatumId = NewType("DatumId", str)
#: The hash of a pipeline's spec and code (``raypachy.pps.service.version_of``).
PipelineVersion = NewType("PipelineVersion", str)

#: Where a commit sorts in ``Tx.commits`` (newest first); opaque to callers.
CommitPosition = tuple[float, int]


def as_job_id(text: str) -> JobId:
    """A job id from text (an API argument, a wire message)."""
    return JobId(CommitId(text))


def layers_to_json(layers: tuple[ManifestInfo, ...]) -> str:
    return json.dumps([[m.id, m.rows] for m in layers])


def layers_from_json(text: str) -> tuple[ManifestInfo, ...]:
    from raypachy.storage.manifest import ManifestInfo

    return tuple(ManifestInfo(i, r) for i, r in json.loads(text))


# --- PFS ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepoRecord:
    name: str
    created: float
    description: str


@dataclass(frozen=True, slots=True)
class BranchRecord:
    repo: str
    name: str
    head: CommitId | None
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A commit as stored: the public fields plus the layers that hold its files.

    ``layers`` is the finished tree (for an open commit: its parent's tree) and
    ``staged`` the layers written into the open commit so far, oldest first.
    """

    repo: str
    id: CommitId
    branch: str | None
    parent: CommitId | None
    origin: str
    description: str
    started: float
    finished: float | None
    error: str | None
    size_bytes: int | None
    file_count: int | None
    layers: tuple[ManifestInfo, ...]
    staged: tuple[ManifestInfo, ...]
    provenance: tuple[CommitRef, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.finished is None

    @property
    def ref(self) -> CommitRef:
        return CommitRef(self.repo, self.id)

    def with_provenance(self, provenance: tuple[CommitRef, ...]) -> CommitRecord:
        return replace(self, provenance=provenance)

    def public(self) -> Commit:
        return Commit(
            repo=self.repo,
            id=self.id,
            branch=self.branch,
            parent=self.parent,
            origin="auto" if self.origin == "auto" else "user",
            description=self.description,
            started=utc(self.started),  # type: ignore[arg-type]
            finished=utc(self.finished),
            error=self.error,
            size_bytes=self.size_bytes,
            file_count=self.file_count,
            provenance=self.provenance,
        )


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A writer's lease: gc waits while a live one exists (see ``raypachy.pfs.leases``).

    ``expires`` bounds its life whatever its heartbeats (leases of API callers)."""

    id: str
    host: str
    pid: int
    started: float
    heartbeat: float
    expires: float | None = None


@dataclass(frozen=True, slots=True)
class LockRecord:
    """A named lock and its holder (the gc lock)."""

    name: str
    host: str
    pid: int
    acquired: float
    heartbeat: float


# --- PPS rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    name: str
    version: PipelineVersion
    spec: dict[str, Any]
    state: str  # running | stopped
    salt: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class PipelineVersionRecord:
    """One version of a pipeline: its spec, when it appeared, how many jobs ran with it."""

    pipeline: str
    version: PipelineVersion
    spec: dict[str, Any]
    created: float
    jobs: int


@dataclass(frozen=True, slots=True)
class JobInput:
    """The commit one input of a job reads."""

    name: str
    repo: str
    branch: str
    id: CommitId

    @property
    def ref(self) -> CommitRef:
        return CommitRef(self.repo, self.id)


@dataclass(frozen=True, slots=True)
class DatumCounts:
    """How many datums of a job: in all, processed, skipped (done before), failed, recovered."""

    total: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    recovered: int = 0


@dataclass(frozen=True, slots=True)
class JobRecord:
    pipeline: str
    id: JobId
    version: PipelineVersion
    state: str
    reason: str
    inputs: tuple[JobInput, ...]
    output_repo: str
    created: float
    started: float | None = None
    finished: float | None = None
    counts: DatumCounts = DatumCounts()
    seq: int = 0  # the order jobs were created in, across pipelines (set by the store)


@dataclass(frozen=True, slots=True)
class DatumInputRecord:
    """What one input of a datum read: a path (a file, or a directory ending in ``/``)."""

    name: str
    repo: str
    commit: CommitId
    path: str


@dataclass(frozen=True, slots=True)
class DatumRecord:
    """A datum of a job, as the job ended with it."""

    pipeline: str
    job: JobId
    id: DatumId
    state: str
    hash: str
    inputs: tuple[DatumInputRecord, ...]
    outputs: tuple[str, ...]
    attempts: int
    error: str
    duration: float


@dataclass(frozen=True, slots=True)
class DatumStateRecord:
    """A pipeline's current record of a datum: its hash and outputs, and the job that made
    them; the next job skips a datum whose hash is unchanged."""

    pipeline: str
    id: DatumId
    hash: str
    outputs: tuple[str, ...]
    job: JobId


@dataclass(frozen=True, slots=True)
class CheckpointDatum:
    """A datum that succeeded in a checkpointed batch."""

    id: DatumId
    hash: str
    state: str
    outputs: tuple[str, ...]
    attempts: int
    error: str
    duration: float


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A batch a running job finished (its output layer and datums), kept across crashes."""

    pipeline: str
    job: JobId
    layer: ManifestInfo | None
    datums: tuple[CheckpointDatum, ...]


# --- auth ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token, known by its SHA-256 only; ``expires`` None: until revoked."""

    hash: str
    user: str
    created: float
    expires: float | None


@dataclass(frozen=True, slots=True)
class RoleBindingRecord:
    """``principal`` (``user:alice``, ``pipeline:edges``) holds ``role`` on an object:
    ``kind`` ``cluster``, ``project`` or ``repo``, named ``name`` (the cluster's is empty)."""

    kind: str
    name: str
    principal: str
    role: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One mutation: who did what, when, and how it ended (``outcome``: ``ok``, ``failed:
    <why>`` or ``denied: <why>``; empty in entries written before outcomes were kept)."""

    at: float
    principal: str
    action: str
    detail: str
    outcome: str = ""


# --- transactions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A transaction's recorded operations, in order: each ``{"verb": ..., "args": {...}}``
    with its arguments as JSON values (``raypachy.pfs.transactions``)."""

    id: str
    created: float
    ops: tuple[dict[str, Any], ...]
