"""What a metadata store offers: transactions of typed statements, and change waits.

One ``Tx`` holds every statement, PFS's and PPS's rows alike, so that a job and its output
commit change in one transaction. A write transaction commits when its block ends without an
error and rolls everything back otherwise; writes are serialized, so a compare-and-swap
(``move_branch``, ``update_open_commit``) holds between processes too. Implementations:
``raypachy.pfs.metadata.sqlite`` (the default) and ``raypachy.pfs.metadata.postgres``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from raypachy.pfs.metadata.records import (
    AuditRecord,
    BranchRecord,
    CheckpointRecord,
    CommitId,
    CommitPosition,
    CommitRecord,
    DatumId,
    DatumRecord,
    DatumStateRecord,
    JobId,
    JobRecord,
    LeaseRecord,
    LockRecord,
    PipelineRecord,
    PipelineVersion,
    PipelineVersionRecord,
    RepoRecord,
    RoleBindingRecord,
    TokenRecord,
    TransactionRecord,
)
from raypachy.pfs.model import CommitRef

if TYPE_CHECKING:
    from raypachy.storage.manifest import ManifestInfo


class PfsStatements(Protocol):
    """Repos, branches, commits, provenance, writer leases and locks."""

    # --- repos ---
    def repo(self, name: str) -> RepoRecord | None: ...
    def repos(self) -> list[RepoRecord]:
        """Every repo, by name."""
        ...

    def insert_repo(self, repo: RepoRecord) -> None: ...
    def update_repo(self, name: str, description: str) -> None: ...
    def delete_repo(self, name: str) -> None:
        """The repo with its branches, commits, provenance and writer."""
        ...

    def repo_writer(self, name: str) -> str | None:
        """Who alone writes this repo (say "pipeline p"), or None for a user repo."""
        ...

    def set_repo_writer(self, name: str, writer: str | None) -> None: ...

    # --- branches ---
    def branch(self, repo: str, name: str) -> BranchRecord | None: ...
    def branches(self, repo: str) -> list[BranchRecord]:
        """A repo's branches, by name."""
        ...

    def branches_at(self, repo: str, head: CommitId) -> list[str]:
        """The names of the branches whose head is ``head``."""
        ...

    def insert_branch(self, branch: BranchRecord) -> None: ...
    def move_branch(
        self, repo: str, name: str, head: CommitId | None, expected: CommitId | None
    ) -> bool:
        """Compare-and-swap: move the branch only if it still points at ``expected``."""
        ...

    def delete_branch(self, repo: str, name: str) -> None: ...

    # --- users' key-value metadata of repos, branches, commits; branch triggers ---
    def object_metadata(self, kind: str, repo: str, name: str) -> dict[str, Any] | None:
        """The JSON object kept for ``kind`` ("repo", "branch", "commit", "trigger") of
        ``repo`` and ``name`` (a branch, a commit id, '' for the repo itself)."""
        ...

    def objects_metadata(self, kind: str, repo: str) -> dict[str, dict[str, Any]]:
        """Every object of ``kind`` kept in ``repo``, by name."""
        ...

    def set_object_metadata(
        self, kind: str, repo: str, name: str, data: dict[str, Any] | None
    ) -> None:
        """Keep ``data`` (None: drop it); deleting the repo, branch or commit drops it too."""
        ...

    # --- commits and provenance ---
    def commit(self, repo: str, commit_id: CommitId) -> CommitRecord | None:
        """One commit, with its provenance."""
        ...

    def commits(
        self,
        repo: str | None = None,
        commit_id: CommitId | None = None,
        after: CommitPosition | None = None,
        limit: int | None = None,
    ) -> list[CommitRecord]:
        """Newest first; ``after`` is a ``commit_position`` to continue from."""
        ...

    def commit_position(self, repo: str | None, commit_id: CommitId) -> CommitPosition | None:
        """Where a commit sorts in ``commits`` (any repo's, when ``repo`` is None)."""
        ...

    def children(self, repo: str, commit_id: CommitId) -> list[CommitId]:
        """The commits whose parent is this one, oldest first."""
        ...

    def insert_commit(self, commit: CommitRecord) -> None:
        """A new commit with its provenance."""
        ...

    def update_open_commit(self, before: CommitRecord, after: CommitRecord) -> bool:
        """Compare-and-swap: replace an open commit's row (finished, error, sizes, layers,
        staged, description) only if it is still open with ``before``'s staged layers."""
        ...

    def set_parent(self, repo: str, commit_id: CommitId, parent: CommitId | None) -> None: ...
    def drop_provenance(self, repo: str, commit_id: CommitId, input_ref: CommitRef) -> None: ...
    def delete_commit(self, repo: str, commit_id: CommitId) -> None:
        """The commit and its provenance (what it was computed from)."""
        ...

    def subvenance(self, repo: str, commit_id: CommitId) -> list[CommitRef]:
        """Commits computed from this one (the other way round from provenance), by repo."""
        ...

    def all_layers(self) -> Iterator[ManifestInfo]:
        """Every manifest any commit references, finished or staged (repeats allowed)."""
        ...

    # --- writer leases and locks ---
    def leases(self) -> list[LeaseRecord]: ...
    def lease(self, lease_id: str) -> LeaseRecord | None: ...
    def insert_lease(self, lease: LeaseRecord) -> None: ...
    def heartbeat_lease(self, lease_id: str, now: float) -> bool:
        """Refresh a lease's heartbeat; False if there is no such lease."""
        ...

    def delete_lease(self, lease_id: str) -> None: ...
    def lock(self, name: str) -> LockRecord | None: ...
    def take_lock(self, lock: LockRecord) -> None:
        """Hold the lock (replacing any holder: the caller decided the old one is dead)."""
        ...

    def renew_lock(self, name: str, host: str, pid: int, acquired: float, now: float) -> bool:
        """Refresh a lock's heartbeat if this holder (host, pid, acquired) still has it."""
        ...

    def break_lock(self, name: str) -> None:
        """Remove a lock whatever its holder (one that stopped renewing it)."""
        ...

    def release_lock(self, name: str, host: str, pid: int, acquired: float) -> None:
        """Drop the lock if this holder (host, pid, acquired) still has it."""
        ...


class PpsStatements(Protocol):
    """The rows pipelines keep: pipelines and their versions, jobs, datums, checkpoints."""

    # --- pipelines ---
    def pipeline(self, name: str) -> PipelineRecord | None: ...
    def pipelines(self) -> list[PipelineRecord]:
        """Every pipeline, by name."""
        ...

    def put_pipeline(self, pipeline: PipelineRecord) -> None:
        """Create or replace the pipeline; its version's spec is kept (first one wins)."""
        ...

    def version_spec(self, name: str, version: PipelineVersion) -> dict[str, Any] | None: ...
    def all_version_specs(self) -> list[dict[str, Any]]:
        """The spec of every version of every pipeline."""
        ...

    def versions(self, name: str) -> list[PipelineVersionRecord]:
        """Every version of a pipeline, oldest first, with how many jobs ran with it."""
        ...

    def delete_pipeline(self, name: str) -> None:
        """The pipeline with its versions, jobs, datums, checkpoints and restart requests."""
        ...

    def pin_code(self, code: str, now: float, keep_s: float) -> None:
        """Keep uploaded code (its chunk id, hex) from gc until ``now + keep_s``; pins older
        than ``keep_s`` are dropped."""
        ...

    def pinned_code(self, since: float) -> list[str]:
        """The code pinned at ``since`` or later."""
        ...

    # --- jobs ---
    def job(self, pipeline: str, job_id: JobId) -> JobRecord | None: ...
    def jobs(
        self,
        pipeline: str | None = None,
        job_id: JobId | None = None,
        before_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        """Newest first; ``before_seq`` continues after the job with that ``seq``."""
        ...

    def jobs_in_states(self, pipeline: str, states: Collection[str]) -> list[JobRecord]:
        """A pipeline's jobs in one of ``states``, oldest first."""
        ...

    def recent_jobs(
        self, limit: int, ended_since: float, live_states: Collection[str]
    ) -> list[JobRecord]:
        """Newest first: the ``limit`` newest jobs, plus every job in ``live_states`` or
        finished at ``ended_since`` or later."""
        ...

    def insert_job(self, job: JobRecord) -> JobRecord:
        """A new job; returns it with its ``seq`` (after every job before it)."""
        ...

    def update_job(self, job: JobRecord) -> None:
        """Write a job's state, reason, inputs, times and counts."""
        ...

    def delete_job(self, pipeline: str, job_id: JobId) -> None:
        """The job with its datums and checkpoints."""
        ...

    # --- datums of jobs, and each pipeline's current datums ---
    def insert_job_datums(self, datums: Iterable[DatumRecord]) -> None:
        """Record datums of jobs (replacing a datum recorded before for the same job)."""
        ...

    def job_datums(
        self,
        pipeline: str,
        job_id: JobId,
        datum: DatumId | None = None,
        after: DatumId | None = None,
        limit: int | None = None,
    ) -> list[DatumRecord]:
        """A job's datums by id: one, or at most ``limit`` after ``after``."""
        ...

    def datum_states(self, pipeline: str) -> list[DatumStateRecord]: ...
    def replace_datum_states(
        self, pipeline: str, removed: Iterable[DatumId], upserts: Iterable[DatumStateRecord]
    ) -> None:
        """Drop the ``removed`` datums' records and create or replace the ``upserts``."""
        ...

    def reset_datum_states(
        self, pipeline: str, job_id: JobId | None, kept_states: Collection[str]
    ) -> None:
        """The pipeline's datum records become the datums of job ``job_id`` whose state is
        one of ``kept_states`` (none without a job)."""
        ...

    def datum_states_of(self, pipeline: str, ids: Collection[DatumId]) -> list[DatumStateRecord]:
        """The records of just these datums (those that have one)."""
        ...

    def count_datum_states(self, pipeline: str) -> int: ...
    def insert_gone_datums(self, pipeline: str, job_id: JobId, ids: Iterable[DatumId]) -> None:
        """Record the datums a job dropped (their input went away, or they failed)."""
        ...

    def datum_history(
        self, pipeline: str, before_seq: int, datum: DatumId | None = None
    ) -> tuple[list[tuple[int, DatumRecord]], list[tuple[int, DatumId]]]:
        """The datum rows and dropped datums of the pipeline's jobs created before
        ``before_seq`` (or of one datum), each with its job's seq."""
        ...

    # --- checkpoints: batches a running job finished, and restart requests ---
    def add_checkpoint(self, checkpoint: CheckpointRecord) -> None: ...
    def checkpoints(self, pipeline: str, job_id: JobId) -> list[CheckpointRecord]:
        """A job's checkpointed batches, oldest first."""
        ...

    def delete_checkpoints(self, pipeline: str, job_id: JobId) -> None: ...
    def checkpoint_manifests(self) -> set[str]:
        """The manifest ids of every checkpointed batch (gc keeps them)."""
        ...

    def request_restart(self, pipeline: str, job_id: JobId, datum: str, now: float) -> None:
        """Ask a running job to restart a datum (an id, or its input paths)."""
        ...

    def has_restarts(self, pipeline: str, job_id: JobId) -> bool: ...
    def take_restarts(self, pipeline: str, job_id: JobId) -> list[str]:
        """The datums asked to restart in this job, oldest request first; each request is
        handed out once."""
        ...


class AuthStatements(Protocol):
    """Users' tokens (hashed), role bindings and the audit log."""

    def auth_activated(self) -> float | None:
        """When auth was activated, or None: the cluster is open to its one API token."""
        ...

    def activate_auth(self, now: float) -> None: ...
    def token(self, token_hash: str) -> TokenRecord | None: ...
    def token_by_ref(self, ref: str) -> TokenRecord | None:
        """The token whose hash hashes to ``ref`` (``raypachy.secrets.token_ref``)."""
        ...

    def insert_token(self, token: TokenRecord) -> None: ...
    def delete_token(self, token_hash: str) -> int:
        """How many tokens were deleted (0 or 1)."""
        ...

    def delete_user_tokens(self, user: str) -> int:
        """Every token of ``user``; how many there were."""
        ...

    def role_bindings(self, kind: str, name: str) -> list[RoleBindingRecord]:
        """Who holds which role on one object, by principal and role."""
        ...

    def principal_bindings(self, principal: str) -> list[RoleBindingRecord]:
        """Every role ``principal`` holds, on any object."""
        ...

    def add_role_binding(self, binding: RoleBindingRecord) -> None:
        """Grant a role (granting one held already changes nothing)."""
        ...

    def remove_role_binding(self, binding: RoleBindingRecord) -> int:
        """Take a role back; how many were (0 or 1)."""
        ...

    def delete_role_bindings(self, kind: str, name: str) -> None:
        """Every role on one object (it is deleted)."""
        ...

    def add_audit(self, entry: AuditRecord) -> None: ...
    def audit(self, since: float, limit: int) -> list[AuditRecord]:
        """The mutations at or after ``since``, oldest first, at most ``limit``."""
        ...


class TransactionStatements(Protocol):
    """Transactions: operations recorded now, applied together by ``finish transaction``."""

    def transaction(self, txn_id: str) -> TransactionRecord | None: ...
    def transactions(self) -> list[TransactionRecord]:
        """Every transaction not yet finished or deleted, oldest first."""
        ...

    def put_transaction(self, txn: TransactionRecord) -> None:
        """Create the transaction, or replace its operations."""
        ...

    def delete_transaction(self, txn_id: str) -> int:
        """How many transactions were deleted (0 or 1)."""
        ...


class Tx(PfsStatements, PpsStatements, AuthStatements, TransactionStatements, Protocol):
    """The statements of one transaction; obtained from ``MetadataStore.read/write``."""


class MetadataStore(Protocol):
    """Repos, commits, branches, provenance, pipelines, jobs and datums, transactionally;
    safe to share between threads (and, for the database, between processes)."""

    @property
    def location(self) -> str:
        """Where the store is, as ``open_store`` takes it (another client opens it so)."""
        ...

    def read(self) -> AbstractContextManager[Tx]:
        """A consistent snapshot for reads (inside a write of this thread: that write)."""
        ...

    def write(self) -> AbstractContextManager[Tx]:
        """One write transaction: it commits when the block ends without an error, and
        nothing of it is kept otherwise. ``BackendError`` when the database cannot be
        written (a full disk), with nothing changed. A write opened inside another of the
        same thread joins it: everything commits, or nothing, when the outer block ends
        (how ``finish transaction`` applies its operations at once)."""
        ...

    def change_version(self) -> int:
        """The change counter: it moves with every committed write, from any process."""
        ...

    def wait_change(self, since: int | None, timeout: float) -> int:
        """The change counter once it differs from ``since``, or after ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Close this thread's connection (the store stays usable)."""
        ...
