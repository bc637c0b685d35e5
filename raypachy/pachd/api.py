"""``API``: every verb of raypachy, as one typed Protocol (what pachd serves).

Two classes implement it, and mypy checks that they agree with it:

- ``raypachy.Client`` talks HTTP to a running control plane (``raypachy.connect()``);
- ``raypachy.pachd.Pachd`` runs the same verbs in this process over a ``$RAYPACHY_HOME``.

Code written against ``API`` runs unchanged on either. Results are frozen dataclasses
(``Repo``, ``Commit``, ``FileInfo``, ``PipelineInfo``, ``JobInfo``...); errors come from
``raypachy.errors``. Targets are pachctl addresses: ``repo@branch``, ``repo@commit``,
``repo@branch^2``.
"""

from __future__ import annotations

import functools
import logging
import os
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from raypachy.pfs.model import (
    Branch,
    Commit,
    CommitRef,
    FileChange,
    FileInfo,
    FsckReport,
    GCReport,
    Project,
    Repo,
    Trigger,
)
from raypachy.pfs.transactions import Transaction

if TYPE_CHECKING:
    from raypachy.pfs.modification import Modification
    from raypachy.pps.model import (
        DatumInfo,
        JobInfo,
        PipelineCreated,
        PipelineInfo,
        PipelineVersion,
        SecretInfo,
    )
    from raypachy.storage.entries import FileData


class Unset:
    """The type of ``UNSET``: an argument that was not given (``None`` means something)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()

log = logging.getLogger("raypachy")


def _logged(created: PipelineCreated) -> PipelineInfo:
    for line in (*created.warnings, created.note):
        if line:
            log.warning(line)
    return created.pipeline


class VersioningAPI(Protocol):
    """Repos, branches, commits and files: Git for data."""

    # --- repos ---------------------------------------------------------------------------

    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        """Create a repo (``update``: change the description of an existing one)."""
        ...

    def inspect_repo(self, name: str) -> Repo:
        """One repo: creation time, description, size of its master head."""
        ...

    def list_repos(self) -> list[Repo]:
        """Every repo, by name."""
        ...

    def delete_repo(self, name: str, force: bool = False) -> list[str]:
        """Delete a repo; one that pipelines read or write only with ``force``, which returns
        what breaks (one line per pipeline)."""
        ...

    # --- projects ------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "", update: bool = False) -> Project:
        """Create a project: a namespace of repos and pipelines (``update``: change the
        description of an existing one)."""
        ...

    def inspect_project(self, name: str) -> Project:
        """One project (``default`` always exists)."""
        ...

    def list_projects(self) -> list[Project]:
        """Every project, ``default`` first."""
        ...

    def delete_project(self, name: str, force: bool = False) -> list[str]:
        """Delete an empty project; with ``force`` its pipelines and repos first (their
        keys are returned). ``default`` cannot be deleted."""
        ...

    # --- branches ------------------------------------------------------------------------

    def create_branch(
        self, repo: str, name: str, head: str | None = None, expected_head: object = UNSET,
        trigger: Trigger | Unset | None = UNSET,
    ) -> Branch:  # fmt: skip
        """Create or move ``repo@name`` to ``head`` (a branch, a commit id, ``^N``); with
        ``expected_head`` the move is a compare-and-swap (``CommitConflictError`` if lost).
        ``trigger`` makes the branch follow another branch's head when its conditions hold
        (None drops it; not given: unchanged)."""
        ...

    def inspect_branch(self, repo: str, name: str) -> Branch:
        """A branch and its head commit."""
        ...

    def list_branches(self, repo: str) -> list[Branch]:
        """A repo's branches, by name."""
        ...

    def delete_branch(self, repo: str, name: str) -> None:
        """Delete a branch (its commits stay)."""
        ...

    # --- commits -------------------------------------------------------------------------

    def start_commit(
        self,
        target: str,
        parent: str | None = None,
        description: str = "",
        commit_id: str | None = None,
        provenance: Iterable[CommitRef] = (),
        origin: str = "user",
    ) -> Commit:
        """Open a commit on ``repo@branch``; the branch head moves to it at once."""
        ...

    def finish_commit(
        self, target: str, error: str | None = None, description: str | None = None
    ) -> Commit:
        """Finish an open commit (``repo@id`` or a branch's open head); it never changes again."""
        ...

    def inspect_commit(self, target: str) -> Commit:
        """One commit: parent, times, size, provenance."""
        ...

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[Commit]:
        """Newest first: a branch's history, a repo's commits or every commit (at most
        ``limit``, after the commit ``start_after``)."""
        ...

    def commit_set(self, commit_id: str) -> list[Commit]:
        """Every commit carrying the global id ``commit_id``, in every repo."""
        ...

    def wait_commit(self, target: str, timeout: float | None = None) -> Commit:
        """Block until the commit is finished (``WaitTimeoutError`` after ``timeout`` seconds)."""
        ...

    def wait_commit_set(self, commit_id: str, timeout: float | None = None) -> list[Commit]:
        """Block until a global id's commits and every job it triggered, the whole DAG, are
        done."""
        ...

    def subscribe_commits(
        self,
        repo: str,
        branch: str = "master",
        timeout: float | None = None,
        from_start: bool = False,
    ) -> Iterator[Commit]:
        """Yield each new finished commit on a branch, oldest first, as it appears."""
        ...

    def wait_change(self, since: int | None, timeout: float) -> int:
        """The metadata's change counter once it differs from ``since`` (at most ``timeout``
        seconds): what subscriptions and live views wait on."""
        ...

    def delete_commit(self, target: str) -> list[str]:
        """Delete a commit set (``id``) or one commit (``repo@id``); branches move back."""
        ...

    def squash_commit(self, target: str) -> list[str]:
        """Remove a commit set, keeping its changes in its children."""
        ...

    # --- history and metadata ------------------------------------------------------------

    def find_commits(self, target: str, path: str) -> list[Commit]:
        """The commits of ``target``'s history (a branch, ``repo@id``) that changed ``path``,
        newest first (``find commit``)."""
        ...

    def file_history(self, target: str, path: str = "/", history_n: int = -1) -> list[FileInfo]:
        """The versions of a file, newest first, each with the commit that wrote it (at most
        ``history_n``; -1: all); for a directory, those of each entry (``list file
        --history``)."""
        ...

    def edit_metadata(
        self,
        kind: str,
        target: str,
        add: dict[str, str] | None = None,
        remove: list[str] | None = None,
        replace: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Edit the key-value metadata of a ``repo``, a ``branch`` (``repo@branch``) or a
        ``commit`` (``repo@id``): add new keys, replace or remove existing ones; returns the
        metadata as it is now. A bad edit changes nothing."""
        ...

    # --- files: reading ------------------------------------------------------------------

    def list_files(
        self, target: str, path: str = "/", limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        """A directory's children in path order (at most ``limit``, after ``start_after``)."""
        ...

    def glob_files(
        self, target: str, pattern: str, limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        """What a glob pattern matches, files and directories, in path order."""
        ...

    def inspect_file(self, target: str, path: str = "/") -> FileInfo:
        """One file or directory: type, size, hash, the commit it is read from."""
        ...

    def diff_files(self, new: str, old: str | None = None, path: str = "/") -> list[FileChange]:
        """What changed between two commits (``old`` defaults to ``new``'s parent)."""
        ...

    def open_file(self, target: str, path: str) -> Iterator[bytes]:
        """Stream a file's bytes (memory stays bounded whatever its size)."""
        ...

    def get_file(self, target: str, path: str) -> bytes:
        """A file's bytes."""
        ...

    def read_range(self, target: str, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a file, reading only what holds them."""
        ...

    def get_to(
        self,
        target: str,
        path: str,
        dest: str | os.PathLike[str],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write a file, or a directory tree, to the local path ``dest``; returns bytes."""
        ...

    # --- files: writing ------------------------------------------------------------------

    def modify(self, target: str, on_progress: Callable[[int], None] | None = None) -> Modification:
        """A batch of changes that becomes one commit: ``with api.modify("r@master") as m:``."""
        ...

    def put_file(self, target: str, path: str, source: Any, append: bool = False) -> Commit:
        """Write ``source`` (bytes, a binary stream or a local ``Path``) at ``path``."""
        ...

    def put_dir(self, target: str, path: str, local_dir: str | os.PathLike[str]) -> Commit:
        """Put every file under ``local_dir`` at ``path``, in one commit."""
        ...

    def delete_file(self, target: str, path: str) -> Commit:
        """Delete a file or a directory (``/``: everything)."""
        ...

    def copy_file(
        self, src: str, src_path: str, dst: str, dst_path: str, append: bool = False
    ) -> Commit:
        """Copy a file or directory between commits without moving any bytes."""
        ...

    # --- the data plane: what a writer holding the bytes needs ----------------------------

    def walk_data(
        self, target: str, path: str = "/", limit: int | None = None, start_after: str | None = None
    ) -> list[tuple[str, FileData]]:
        """Every file at or under ``path`` with where its bytes are (chunk references)."""
        ...

    def path_kind(self, target: str, path: str) -> str | None:
        """``"file"``, ``"dir"`` or ``None`` (nothing there)."""
        ...

    def check_writable(self, target: str) -> None:
        """Raise if ``target`` cannot take writes (a finished commit, an output repo...)."""
        ...

    def acquire_lease(self) -> str:
        """A writer lease: gc keeps what its holder writes until it registers or releases."""
        ...

    def heartbeat_lease(self, lease_id: str) -> None:
        """Keep a lease alive (it lapses without a heartbeat)."""
        ...

    def release_lease(self, lease_id: str) -> None:
        """Give a lease back."""
        ...

    def write_lease(self) -> AbstractContextManager[str]:
        """A lease held, and heartbeated, for the duration of a ``with`` block."""
        ...

    def register_layer(self, target: str, manifest_id: str, lease_id: str = "") -> Commit:
        """Apply a written manifest to a branch (its open head, or a new commit) or to an
        open commit; releases the lease."""
        ...

    # --- maintenance ---------------------------------------------------------------------

    def gc(self) -> GCReport:
        """Delete chunks and manifests no commit references (refused while writers run)."""
        ...

    def fsck(self, fix: bool = False, deep: bool = False) -> FsckReport:
        """Check every commit, manifest, chunk and link; ``fix`` repairs links."""
        ...


class PipelineAPI(Protocol):
    """Pipelines, jobs, datums, logs and lineage."""

    # --- pipelines -----------------------------------------------------------------------

    def put_pipeline(
        self, pipeline: Any, update: bool = False, reprocess: bool = False
    ) -> PipelineCreated:
        """Create or update a pipeline (a spec dict, a ``PipelineSpec`` or a
        ``@raypachy.pipeline`` function); returns it with a note and one warning per field
        the cluster ignores."""
        ...

    def create_pipeline(self, pipeline: Any) -> PipelineInfo:
        """Create a pipeline; its note and warnings go to the ``raypachy`` logger."""
        return _logged(self.put_pipeline(pipeline))

    def update_pipeline(self, pipeline: Any, reprocess: bool = False) -> PipelineInfo:
        """A new version; without ``reprocess`` unchanged datums keep their outputs."""
        return _logged(self.put_pipeline(pipeline, update=True, reprocess=reprocess))

    def store_code(self, code: bytes) -> str:
        """Store a pickled Python transform; returns its key (kept until a pipeline uses it)."""
        ...

    def register_code(self, code: str, lease_id: str) -> None:
        """Keep code its writer stored under ``lease_id`` for the pipeline about to use it
        (releases the lease)."""
        ...

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline: spec, version, state, last job, Ray options; ``name^N`` is the
        pipeline as it was N versions before the current one."""
        ...

    def update_defaults(
        self, defaults_doc: dict[str, Any], project: str | None = None
    ) -> dict[str, Any]:
        """Replace the cluster (or, with ``project``, that project's) defaults,
        ``{"create_pipeline_request": {...}}``; cluster < project < spec: spec fields
        merged under every pipeline created or updated from now on (as Pachyderm 2.9+)."""
        ...

    def inspect_defaults(self, project: str | None = None) -> dict[str, Any]:
        """The cluster (or a project's) defaults (``{"create_pipeline_request": {}}`` when
        none are set)."""
        ...

    def rerun_pipeline(self, name: str, reprocess: bool = False) -> JobInfo:
        """A new job on the inputs' current heads; ``reprocess`` runs every datum again
        (else the datums done before are skipped)."""
        ...

    def list_pipelines(self) -> list[PipelineInfo]:
        """Every pipeline, by name."""
        ...

    def list_pipeline_versions(self, name: str) -> list[PipelineVersion]:
        """Every version of a pipeline, oldest first."""
        ...

    def delete_pipeline(self, name: str, keep_repo: bool = False) -> None:
        """Delete a pipeline (and its output repo unless ``keep_repo``)."""
        ...

    def stop_pipeline(self, name: str) -> PipelineInfo:
        """Stop creating jobs for a pipeline."""
        ...

    def start_pipeline(self, name: str) -> PipelineInfo:
        """Start a stopped pipeline; it catches up with its inputs."""
        ...

    def run_cron(self, name: str) -> list[Commit]:
        """Tick the pipeline's cron inputs now (``pachctl run cron``); the tick commits."""
        ...

    # --- secrets -------------------------------------------------------------------------

    def create_secret(self, secret: dict[str, Any]) -> SecretInfo:
        """Store a Kubernetes Secret document (``metadata.name``, ``data`` base64 and/or
        ``stringData``) for ``transform.secrets``; answers its name and key names only."""
        ...

    def inspect_secret(self, name: str) -> SecretInfo:
        """One secret: its name, key names and creation time (never its values)."""
        ...

    def list_secrets(self) -> list[SecretInfo]:
        """Every stored secret: names, key names and creation times (never values)."""
        ...

    def delete_secret(self, name: str) -> None:
        """Delete a secret; pipelines that name it fail their next jobs until it exists."""
        ...

    # --- jobs ----------------------------------------------------------------------------

    def list_jobs(
        self,
        pipeline: str | None = None,
        job_id: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[JobInfo]:
        """Jobs, newest first: a pipeline's, a global id's (every pipeline), or all."""
        ...

    def list_recent_jobs(self, limit: int = 200) -> list[JobInfo]:
        """The newest jobs plus every job that ran in the last two minutes."""
        ...

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        """One job: state, datum counts, input and output commits."""
        ...

    def wait_job(self, pipeline: str, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job ends (success, failure, killed or unrunnable)."""
        ...

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        """Kill a job; its output commit is finished with an error."""
        ...

    # --- datums, logs, lineage -----------------------------------------------------------

    def list_datums(
        self,
        pipeline: str,
        job_id: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[DatumInfo]:
        """A job's datums (the latest job's without ``job_id``)."""
        ...

    def inspect_datum(self, pipeline: str, job_id: str, datum: str) -> DatumInfo:
        """One datum: state, inputs, outputs, attempts, error."""
        ...

    def restart_datum(self, pipeline: str, job_id: str, datum: str) -> JobInfo:
        """Run a datum again (by id or by its input paths)."""
        ...

    def preview_datums(self, pipeline: Any, limit: int | None = None) -> list[dict[str, Any]]:
        """The datums a spec would make on the current data, running nothing."""
        ...

    def logs(
        self, pipeline: str, job_id: str | None = None, datum: str | None = None
    ) -> list[dict[str, Any]]:
        """What datums printed, with the tracebacks of failures."""
        ...

    def lineage(self, target: str) -> dict[str, Any]:
        """Where a commit (or ``repo@ref:/path``) came from, and what was computed from it."""
        ...


class TransactionAPI(Protocol):
    """Transactions, as pachctl's: operations recorded, then applied at once (see
    ``raypachy.pfs.transactions``)."""

    def start_transaction(self) -> Transaction:
        """A new transaction; a client that names it records start/finish commit,
        create/delete branch and create/update pipeline in it instead of applying them."""
        ...

    def finish_transaction(self, txn_id: str) -> Transaction:
        """Apply the transaction's operations in one metadata write: all, or none (with a
        one-line error naming the operation that failed)."""
        ...

    def delete_transaction(self, txn_id: str) -> None:
        """Drop a transaction and what it recorded."""
        ...

    def inspect_transaction(self, txn_id: str) -> Transaction:
        """A transaction with its recorded operations."""
        ...

    def list_transactions(self) -> list[Transaction]:
        """Every transaction not yet finished or deleted, oldest first."""
        ...


class API(VersioningAPI, PipelineAPI, TransactionAPI, Protocol):
    """Every verb of raypachy. ``raypachy.Client`` and ``raypachy.pachd.Pachd`` implement it."""

    def status(self) -> dict[str, Any]:
        """What serves this API: processes, storage, pipeline controllers."""
        ...


@functools.cache
def verb_hints(name: str) -> dict[str, Any]:
    """The annotations of verb ``name``, resolved without loading the storage engine (its
    types, only named here for readers, stand as ``Any``: their wire forms have codecs)."""
    method = getattr(API, name)
    try:
        return typing.get_type_hints(method, localns=_UNLOADED)
    except NameError:  # a pipeline verb: its types load now (a repo verb never needs them)
        return typing.get_type_hints(method, localns={**_UNLOADED, **_pps_types()})


_UNLOADED: dict[str, Any] = {"FileData": Any, "Modification": Any}


@functools.cache
def _pps_types() -> dict[str, Any]:
    from raypachy.pps import model

    names = ("DatumInfo", "JobInfo", "PipelineCreated", "PipelineInfo", "PipelineVersion",
             "SecretInfo")  # fmt: skip
    return {name: getattr(model, name) for name in names}
