"""``Pachd``: the API in this process, over PFS and PPS: the composition root.

Here versioning and pipelines meet: a commit that lands creates the jobs it triggers, a
moved branch head is new data, gc keeps what pipelines still need (stored code, checkpoints),
deleting a repo asks who reads it, and a global id is waited on across the whole DAG. One
``Pachd`` lives next to the metadata store: inside the metadata actor on a cluster, or in
this process (tests, notebooks: ``Pachd.open()``, then ``run_jobs()`` drives the jobs).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from raypachy.errors import (
    CommitNotFoundError,
    ConflictError,
    InvalidArgumentError,
    InvalidSpecError,
    UnavailableError,
    WaitTimeoutError,
)
from raypachy.pachd import projects as project_verbs
from raypachy.pachd import triggers
from raypachy.pachd.api import API, UNSET, Unset
from raypachy.pachd.auth import AuthVerbs
from raypachy.pachd.pipeline_auth import PipelineAuth, input_repos
from raypachy.pachd.transactions import TransactionVerbs
from raypachy.pfs.address import Address, parse_address
from raypachy.pfs.controller_leases import ControllerLeases, Holder
from raypachy.pfs.metadata import CommitId
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
from raypachy.pfs.names import normalize_path
from raypachy.pfs.service import PFS
from raypachy.pps import defaults, history, queries, ticks
from raypachy.pps.decorator import preview_spec, spec_of
from raypachy.pps.ignored import spec_warnings
from raypachy.pps.model import (
    DatumInfo,
    DiffBase,
    JobClaim,
    JobInfo,
    JobState,
    JobToken,
    PipelineCreated,
    PipelineInfo,
    PipelineVersion,
    SecretInfo,
)
from raypachy.pps.secretstore import SecretStore
from raypachy.pps.service import PPS
from raypachy.pps.spec import PfsInput, PipelineSpec, parse_spec
from raypachy.storage import ChunkStore, ManifestStore
from raypachy.storage.manifest import ManifestInfo
from raypachy.storage.verify import verify_layer

if TYPE_CHECKING:
    from raypachy.pfs.modification import Modification
    from raypachy.storage.entries import FileData


def _check_entry_path(path: str) -> None:
    """A client-written manifest may only hold normalised absolute paths (or ``/dir/``)."""
    bare = path[:-1] if path.endswith("/") and path != "/" else path
    try:
        ok = normalize_path(bare) == bare
    except InvalidArgumentError:
        ok = False
    if not ok:
        raise InvalidArgumentError(f"manifest path {path!r} is not a normalised absolute path")


class _Writes:
    """What a ``Modification`` writes through: PFS, with the jobs a landed commit triggers."""

    def __init__(self, pachd: Pachd) -> None:
        self.pachd, self.pfs, self.threads = pachd, pachd.pfs, pachd.threads

    @property
    def chunks(self) -> ChunkStore:
        """The chunk store of the installation."""
        return self.pfs.chunks

    @property
    def manifests(self) -> ManifestStore:
        """The manifest store of the installation."""
        return self.pfs.manifests

    def check_writable(self, addr: Address) -> None:
        self.pfs.check_writable(addr)

    def write_lease(self) -> AbstractContextManager[str]:
        return self.pfs.write_lease()

    def path_kind(self, addr: Address, path: str) -> str | None:
        return self.pfs.path_kind(addr, path)

    def walk_data(self, source: str, path: str) -> Iterable[tuple[str, FileData]]:
        return self.pfs.walk_data(source, path)

    def register_layer(self, addr: Address, layer: ManifestInfo, lease_id: str) -> Commit:
        return self.pachd._landed(self.pfs.register_layer(addr, layer, lease_id))


class Pachd(TransactionVerbs, API, AuthVerbs):
    """Every verb of ``API`` in this process, over one metadata store and one storage."""

    threads = 2

    def __init__(self, pfs: PFS, images: str = "off") -> None:
        self.pfs = pfs
        self.pps = PPS(pfs)
        self.images = images  # the cluster's image mode (see raypachy.pps.images)
        # The cluster's API token, which the control plane hands to what a pipeline runs
        # before auth is activated (task and actor arguments: never a worker's environment).
        self.cluster_token = JobToken()

    @classmethod
    def open(
        cls, home: str | None = None, storage: str | None = None, images: str = "off",
        serve: bool = False, metadata: str | None = None,
    ) -> Pachd:  # fmt: skip
        """The installation at ``home`` (default ``$RAYPACHY_HOME``); ``serve`` is for the
        control plane, which holds the home while it runs; ``metadata`` is the store's
        location (a PostgreSQL URL or a SQLite file; default as ``PFS.open``)."""
        return cls(PFS.open(home, storage, serve=serve, metadata=metadata), images)

    @property
    def chunks(self) -> ChunkStore:
        """The chunk store of the installation."""
        return self.pfs.chunks

    @property
    def manifests(self) -> ManifestStore:
        """The manifest store of the installation."""
        return self.pfs.manifests

    def _landed(self, commit: Commit) -> Commit:
        """A commit that may have finished: create the jobs it triggers, and move the
        branches whose trigger follows its branch."""
        if commit.finished is not None:
            self.pps.on_commit(commit)
            if commit.branch is not None:
                self._follow(commit.repo, commit.branch)
        return commit

    def _follow(self, repo: str, branch: str) -> None:
        """Move the branches whose trigger fires on ``branch``'s head; each moved branch is
        new data for the pipelines reading it, and may fire triggers of its own."""
        todo = [branch]
        while todo:
            with self.pfs.meta.write() as tx:
                moved = triggers.move_followers(tx, repo, todo.pop())
            for name in moved:
                self.pps.on_branch_moved(repo, name)
            todo += moved

    # --- repos and branches -------------------------------------------------------------

    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        return self.pfs.create_repo(name, description, update)

    def inspect_repo(self, name: str) -> Repo:
        return self.pfs.inspect_repo(name)

    def list_repos(self) -> list[Repo]:
        return self.pfs.list_repos()

    def delete_repo(self, name: str, force: bool = False) -> list[str]:
        users = self.pps.repo_users(name)
        if users and not force:
            raise ConflictError(
                f"cannot delete repo {name}: {'; '.join(users)}; delete the pipeline(s) first, or "
                f"use `raypachy delete repo {name} --force`"
            )
        self.pfs.delete_repo(name, force=force)
        return [f"{user}: its next jobs fail until the repo exists again" for user in users]

    # --- projects -----------------------------------------------------------------------

    def create_project(self, name: str, description: str = "", update: bool = False) -> Project:
        return project_verbs.create(self, name, description, update)

    def inspect_project(self, name: str) -> Project:
        return project_verbs.inspect(self, name)

    def list_projects(self) -> list[Project]:
        return project_verbs.list_all(self)

    def delete_project(self, name: str, force: bool = False) -> list[str]:
        return project_verbs.delete(self, name, force)

    def create_branch(
        self, repo: str, name: str, head: str | None = None, expected_head: object = UNSET,
        trigger: Trigger | Unset | None = UNSET,
    ) -> Branch:  # fmt: skip
        before = next((b.head for b in self.pfs.list_branches(repo) if b.name == name), None)
        kw: dict[str, object] = {} if expected_head is UNSET else {"expected_head": expected_head}
        if isinstance(trigger, Trigger):
            kw["trigger"] = triggers.check_trigger(trigger)
        elif trigger is None:
            kw["trigger"] = None
        branch = self.pfs.create_branch(repo, name, head, **kw)
        if branch.head != before:  # a moved head is new data for the pipelines reading it
            self.pps.on_branch_moved(repo, name)
            self._follow(repo, name)
        return branch

    def inspect_branch(self, repo: str, name: str) -> Branch:
        return self.pfs.inspect_branch(repo, name)

    def list_branches(self, repo: str) -> list[Branch]:
        return self.pfs.list_branches(repo)

    def delete_branch(self, repo: str, name: str) -> None:
        self.pfs.delete_branch(repo, name)

    # --- commits ---------------------------------------------------------------------------

    def start_commit(
        self,
        target: str,
        parent: str | None = None,
        description: str = "",
        commit_id: str | None = None,
        provenance: Iterable[CommitRef] = (),
        origin: str = "user",
    ) -> Commit:
        return self.pfs.start_commit(target, parent, description, commit_id, provenance, origin)

    def finish_commit(
        self, target: str, error: str | None = None, description: str | None = None
    ) -> Commit:
        return self._landed(self.pfs.finish_commit(target, error, description))

    def inspect_commit(self, target: str) -> Commit:
        return self.pfs.inspect_commit(target)

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[Commit]:
        return self.pfs.list_commits(repo, branch, limit, start_after)

    def commit_set(self, commit_id: str) -> list[Commit]:
        return self.pfs.commit_set(commit_id)

    def wait_commit(self, target: str, timeout: float | None = None) -> Commit:
        return self.pfs.wait_commit(target, timeout)

    def wait_commit_set(self, commit_id: str, timeout: float | None = None) -> list[Commit]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self.pfs.meta.change_version()
            state = self.commit_set_state(commit_id)
            if not state["busy"]:
                return list(state["commits"])
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(f"{state['busy']} is still running after {timeout}s")
            self.pfs.meta.wait_change(seen, min(left, 1.0))

    def subscribe_commits(
        self,
        repo: str,
        branch: str = "master",
        timeout: float | None = None,
        from_start: bool = False,
    ) -> Iterator[Commit]:
        return self.pfs.subscribe_commits(repo, branch, timeout, from_start)

    def delete_commit(self, target: str) -> list[str]:
        return self.pfs.delete_commit(target, also=self.pps.removal_hook())

    def squash_commit(self, target: str) -> list[str]:
        return self.pfs.squash_commit(target, also=self.pps.removal_hook())

    def find_commits(self, target: str, path: str) -> list[Commit]:
        return self.pfs.find_commits(target, path)

    def file_history(self, target: str, path: str = "/", history_n: int = -1) -> list[FileInfo]:
        return self.pfs.file_history(target, path, history_n)

    def edit_metadata(
        self,
        kind: str,
        target: str,
        add: dict[str, str] | None = None,
        remove: list[str] | None = None,
        replace: dict[str, str] | None = None,
    ) -> dict[str, str]:
        return self.pfs.edit_metadata(kind, target, add, remove or (), replace)

    # --- files ------------------------------------------------------------------------------

    def list_files(
        self, target: str, path: str = "/", limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        return self.pfs.list_files(target, path, limit, start_after)

    def glob_files(
        self, target: str, pattern: str, limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        return self.pfs.glob_files(target, pattern, limit, start_after)

    def inspect_file(self, target: str, path: str = "/") -> FileInfo:
        return self.pfs.inspect_file(target, path)

    def diff_files(self, new: str, old: str | None = None, path: str = "/") -> list[FileChange]:
        return self.pfs.diff_files(new, old, path)

    def open_file(self, target: str, path: str) -> Iterator[bytes]:
        return self.pfs.open_file(target, path)

    def get_file(self, target: str, path: str) -> bytes:
        return self.pfs.get_file(target, path)

    def read_range(self, target: str, path: str, start: int, end: int) -> bytes:
        return self.pfs.read_range(target, path, start, end)

    def get_to(
        self,
        target: str,
        path: str,
        dest: str | os.PathLike[str],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        return self.pfs.get_to(target, path, dest, on_progress)

    def modify(self, target: str, on_progress: Callable[[int], None] | None = None) -> Modification:
        from raypachy.pfs.modification import Modification

        return Modification(_Writes(self), parse_address(target), on_progress)

    def put_file(self, target: str, path: str, source: Any, append: bool = False) -> Commit:
        with self.modify(target) as m:
            m.put(path, source, append=append)
        return m.result()

    def put_dir(self, target: str, path: str, local_dir: str | os.PathLike[str]) -> Commit:
        with self.modify(target) as m:
            m.put_tree(path, local_dir)
        return m.result()

    def delete_file(self, target: str, path: str) -> Commit:
        return self._landed(self.pfs.delete_file(target, path))

    def copy_file(
        self, src: str, src_path: str, dst: str, dst_path: str, append: bool = False
    ) -> Commit:
        return self._landed(self.pfs.copy_file(src, src_path, dst, dst_path, append))

    # --- the data plane ---------------------------------------------------------------------

    def walk_data(
        self, target: str, path: str = "/", limit: int | None = None, start_after: str | None = None
    ) -> list[tuple[str, FileData]]:
        found = self.pfs.walk_data(target, normalize_path(path), start_after)
        return list(itertools.islice(found, limit))

    def path_kind(self, target: str, path: str) -> str | None:
        return self.pfs.path_kind(parse_address(target), normalize_path(path))

    def check_writable(self, target: str) -> None:
        self.pfs.check_writable(parse_address(target))

    def acquire_lease(self) -> str:
        return self.grant_lease(socket.gethostname(), os.getpid())

    def grant_lease(self, host: str, pid: int, max_s: float | None = None) -> str:
        """A lease for a writer the caller vouches for (the API server checks who asks)."""
        return self.pfs.leases.acquire(host, pid, max_s=max_s)

    def heartbeat_lease(self, lease_id: str) -> None:
        self.pfs.leases.heartbeat(lease_id)

    def release_lease(self, lease_id: str) -> None:
        self.pfs.leases.release(lease_id)

    def write_lease(self) -> AbstractContextManager[str]:
        return self.pfs.write_lease()

    def register_layer(self, target: str, manifest_id: str, lease_id: str = "") -> Commit:
        """Checked in full (a writer's word decides nothing: ``verify_layer``), under the live
        lease its chunks were written under."""
        if len(manifest_id) != 64 or any(c not in "0123456789abcdef" for c in manifest_id):
            raise InvalidArgumentError(f"invalid manifest id {manifest_id!r}")
        if not self.pfs.manifests.exists(manifest_id):
            raise InvalidArgumentError(
                f"manifest {manifest_id} is not in {self.pfs.backend.uri}: write it first"
            )
        try:
            if lease_id:
                self.pfs.leases.check(lease_id)  # a lapsed lease is the reason, not its effects
            layer, rewrite = verify_layer(
                self.pfs.chunks, self.pfs.manifests, manifest_id, _check_entry_path
            )
            with self.pfs.leases.keep(lease_id):  # live now: nothing checked above is gone
                if rewrite is not None:
                    self.pfs.manifests.put(rewrite)
                    self.pfs.manifests.sync()
                return self._landed(self.pfs.register_layer(parse_address(target), layer, lease_id))
        finally:
            if lease_id:
                self.pfs.leases.release(lease_id)

    def register_code(self, code: str, lease_id: str) -> None:
        """Keep a stored Python transform for the pipeline about to use it (its chunk was
        written under ``lease_id``, which this releases)."""
        try:
            self.pps.pin_code(code, lease_id)
        finally:
            self.pfs.leases.release(lease_id)

    def store_code(self, code: bytes) -> str:
        """Store a pickled Python transform; returns its key (kept until a pipeline uses it)."""
        with self.write_lease() as lease:
            chunk_id, _ = self.pfs.chunks.put(code)
            self.pps.pin_code(chunk_id.hex(), lease)
        return chunk_id.hex()

    # --- maintenance ------------------------------------------------------------------------

    def gc(self, on_phase: Callable[[str], None] | None = None) -> GCReport:
        return self.pfs.gc(self.pps.code_keys, self.pps.checkpoint_manifests, on_phase)

    def fsck(self, fix: bool = False, deep: bool = False) -> FsckReport:
        report = self.pfs.fsck(fix, deep)
        return replace(report, problems=report.problems + tuple(self.pps.fsck(fix)))

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "storage": self.pfs.backend.uri,
            "repos": len(self.pfs.list_repos()),
        }

    # --- waits held by the API server (raypachy.server.rest.waits) ------------------------

    def wait_change(self, since: int | None, timeout: float) -> int:
        """The metadata's change counter once it differs from ``since`` (or after timeout)."""
        return self.pfs.meta.wait_change(since, timeout)

    def commit_set_state(self, commit_id: str) -> dict[str, Any]:
        """A global id's commits, and what of its DAG still runs (``busy``, "" when done)."""
        commits = self.pfs.commit_set(commit_id)
        jobs = self.pps.list_jobs(job_id=commit_id)
        if not commits and not jobs:
            raise CommitNotFoundError(f"commit {commit_id} not found")
        busy = [str(c.ref) for c in commits if c.finished is None]
        busy += [f"job {j.pipeline}@{commit_id}" for j in jobs if not JobState(j.state).terminal]
        return {"commits": commits, "busy": busy[0] if busy else ""}

    # --- pipelines --------------------------------------------------------------------------

    def put_pipeline(
        self, pipeline: Any, update: bool = False, reprocess: bool = False
    ) -> PipelineCreated:
        spec = spec_of(pipeline, self.store_code)
        with self.pfs.meta.read() as tx:
            spec = defaults.apply(tx, spec)  # the cluster's, then its project's, defaults under
        wanted = self._input_triggers(parse_spec(spec))  # checked before anything changes
        info, note = self.pps.create_pipeline(spec, update, reprocess, self.images)
        PipelineAuth(self.pfs.meta).grant(info.name, input_repos(spec, info.name))
        for repo, branch, trigger in wanted:  # the input branch follows its trigger branch
            self.pfs.create_branch(repo, branch, trigger=trigger)
        warnings = tuple(
            f"pipeline {info.name}: {w}" for w in spec_warnings(parse_spec(spec), self.images)
        )
        return PipelineCreated(info, note, warnings)

    def _input_triggers(self, spec: PipelineSpec) -> list[tuple[str, str, Trigger]]:
        """``input.pfs.trigger``: as in Pachyderm, the input's branch gets the trigger (and
        is created if missing), so the pipeline sees its trigger branch's data in batches."""
        wanted = []
        for leaf in spec.input.leaves():
            if isinstance(leaf, PfsInput) and leaf.trigger:
                where = f"pipeline {spec.pipeline.name}: input.pfs.trigger on {leaf.repo}"
                try:
                    trigger = triggers.trigger_from_json(leaf.trigger)
                    self.pfs.check_trigger(leaf.repo, leaf.branch, trigger)
                except InvalidArgumentError as e:
                    raise InvalidSpecError(f"{where}: {e}") from None
                wanted.append((leaf.repo, leaf.branch, trigger))
        return wanted

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        base, back = history.split_back(name)
        if back:
            return history.inspect_version(self.pps, base, back)
        return self.pps.inspect_pipeline(name)

    def rerun_pipeline(self, name: str, reprocess: bool = False) -> JobInfo:
        return history.rerun(self.pps, name, reprocess)

    def update_defaults(
        self, defaults_doc: dict[str, Any], project: str | None = None
    ) -> dict[str, Any]:
        with self.pfs.meta.write() as tx:
            defaults.write(tx, defaults_doc, project)
            return defaults.read(tx, project)

    def inspect_defaults(self, project: str | None = None) -> dict[str, Any]:
        with self.pfs.meta.read() as tx:
            return defaults.read(tx, project)

    def list_pipelines(self) -> list[PipelineInfo]:
        return self.pps.list_pipelines()

    def list_pipeline_versions(self, name: str) -> list[PipelineVersion]:
        return history.pipeline_versions(self.pps, name)

    def delete_pipeline(self, name: str, keep_repo: bool = False) -> None:
        self.pps.delete_pipeline(name, keep_repo)
        PipelineAuth(self.pfs.meta).forget(name)

    def stop_pipeline(self, name: str) -> PipelineInfo:
        return self.pps.set_pipeline_state(name, running=False)

    def start_pipeline(self, name: str) -> PipelineInfo:
        return self.pps.set_pipeline_state(name, running=True)

    def run_cron(self, name: str) -> list[Commit]:
        return ticks.run_cron(self.pps, name)

    # --- secrets --------------------------------------------------------------------------

    def _secrets(self) -> SecretStore:
        if self.pps.secrets is None:
            raise UnavailableError("this installation has no home to keep secrets in")
        return self.pps.secrets

    def create_secret(self, secret: dict[str, Any]) -> SecretInfo:
        return self._secrets().create(secret)

    def inspect_secret(self, name: str) -> SecretInfo:
        return self._secrets().inspect(name)

    def list_secrets(self) -> list[SecretInfo]:
        return self._secrets().list()

    def delete_secret(self, name: str) -> None:
        self._secrets().delete(name)

    # --- jobs, datums, logs, lineage --------------------------------------------------------

    def list_jobs(
        self,
        pipeline: str | None = None,
        job_id: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[JobInfo]:
        return self.pps.list_jobs(pipeline, job_id, limit, start_after)

    def list_recent_jobs(self, limit: int = 200) -> list[JobInfo]:
        """The newest jobs plus every job that ran in the last two minutes (live views)."""
        return history.recent_jobs(self.pps, limit)

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        return self.pps.inspect_job(pipeline, job_id)

    def wait_job(self, pipeline: str, job_id: str, timeout: float | None = None) -> JobInfo:
        return self.pps.wait_job(pipeline, job_id, timeout)

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        return self.pps.stop_job(pipeline, job_id)

    def list_datums(
        self,
        pipeline: str,
        job_id: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[DatumInfo]:
        return queries.list_datums(self.pps, pipeline, job_id, limit, start_after)

    def inspect_datum(self, pipeline: str, job_id: str, datum: str) -> DatumInfo:
        return queries.inspect_datum(self.pps, pipeline, job_id, datum)

    def restart_datum(self, pipeline: str, job_id: str, datum: str) -> JobInfo:
        return queries.restart_datum(self.pps, pipeline, job_id, datum)

    def preview_datums(self, pipeline: Any, limit: int | None = None) -> list[dict[str, Any]]:
        return queries.preview_datums(self.pps, preview_spec(pipeline), limit)

    def logs(
        self, pipeline: str, job_id: str | None = None, datum: str | None = None
    ) -> list[dict[str, Any]]:
        return queries.read_logs(self.pps, pipeline, job_id, datum)

    def lineage(self, target: str) -> dict[str, Any]:
        return queries.lineage(self.pps, target)

    # --- what pipeline controllers ask ------------------------------------------------------

    def pipelines_with_jobs(self) -> list[str]:
        """The pipelines with a job not yet ended: the controllers worth waking."""
        return self.pps.pipelines_with_jobs()

    def claim_job(self, pipeline: str) -> JobClaim | None:
        """Take the next job of a pipeline to run, if any (its controller asks)."""
        return self._with_token(self.pps.claim_job(pipeline))

    def _with_token(self, claim: JobClaim | None) -> JobClaim | None:
        """Once auth is active, a job runs as its pipeline: the pipeline's roles, and a
        fresh token of it for the job's datums. Before, its datums get the cluster's token
        (when the control plane holds one), the only credential there is then."""
        if claim is None:
            return None
        auth = PipelineAuth(self.pfs.meta)
        if not auth.active():  # no write, no spec parse, on the job path
            return replace(claim, token=self.cluster_token) if self.cluster_token else claim
        auth.grant(claim.pipeline, input_repos(claim.spec, claim.pipeline))
        token = auth.mint(claim.pipeline)
        return claim if token is None else replace(claim, token=JobToken(token))

    def pipeline_token(self, pipeline: str) -> str | None:
        """A fresh token for a spout's or service's process, which acts as its pipeline (its
        roles only, never the cluster's); before auth is activated, the cluster's token (None
        when the control plane holds none)."""
        auth = PipelineAuth(self.pfs.meta)
        if not auth.active():
            return self.cluster_token.value or None
        auth.grant(pipeline, input_repos(self.pps.inspect_pipeline(pipeline).spec, pipeline))
        return auth.mint(pipeline)

    def take_controller_lease(self, pipeline: str, host: str, pid: int) -> Holder | None:
        """The pipeline's controller lease for a controller host (None: another drives it)."""
        return ControllerLeases(self.pfs.meta).take(pipeline, host, pid)

    def renew_controller_lease(self, pipeline: str, holder: Holder) -> bool:
        """Renew a controller lease; False once its holder lost it."""
        return ControllerLeases(self.pfs.meta).renew(pipeline, holder)

    def release_controller_lease(self, pipeline: str, holder: Holder) -> None:
        """Give a controller lease up."""
        ControllerLeases(self.pfs.meta).release(pipeline, holder)

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None:
        """Change a job's state, reason or counts."""
        self.pps.update_job(pipeline, job_id, **fields)

    def take_datum_restarts(self, pipeline: str, job_id: str) -> list[str]:
        """The datums users asked to restart in a running job (taken once)."""
        return self.pps.take_datum_restarts(pipeline, job_id)

    def tick_cron(self, pipeline: str) -> float | None:
        """Commit a tick if the pipeline's cron input is due; seconds to the next one."""
        return ticks.tick_cron(self.pps, pipeline)

    def job_is_live(self, pipeline: str, job_id: str) -> bool:
        """Is the job still to be run (not killed, not ended)?"""
        return self.pps.job_is_live(pipeline, job_id)

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]:
        """Each datum of a pipeline: its state and outputs in the latest job."""
        return self.pps.datum_states(pipeline)

    def datum_states_of(self, pipeline: str, ids: list[str]) -> dict[str, tuple[str, list[str]]]:
        """``datum_states`` of just these datums."""
        return self.pps.datum_states_of(pipeline, ids)

    def diff_base(self, pipeline: str, job_id: str, salt: str) -> DiffBase | None:
        """The job before this one, when this one may plan from the change since it."""
        return self.pps.diff_base(pipeline, job_id, salt)

    def commit_layers(self, repo: str, commit_id: str) -> list[ManifestInfo]:
        """The manifests of a commit (what a batch reads its inputs from)."""
        return self.pps.commit_layers(repo, commit_id)

    def checkpoint_batch(
        self,
        pipeline: str,
        job_id: str,
        layer: ManifestInfo | None,
        results: list[list[Any]],
        lease_id: str = "",
    ) -> None:
        """Record a finished batch of a running job (a crash does not lose its datums)."""
        self.pps.checkpoint_batch(pipeline, job_id, layer, results, lease_id)

    def checkpoints(self, pipeline: str, job_id: str) -> list[tuple[Any, list[list[Any]]]]:
        """The batches a job recorded so far (a resumed job skips them)."""
        return self.pps.checkpoints(pipeline, job_id)

    def finish_job(
        self,
        pipeline: str,
        job_id: str,
        state: str,
        reason: str,
        layer: ManifestInfo | None,
        counts: tuple[int, int, int, int, int],
        datum_rows: list[tuple[Any, ...]],
        removed: list[str],
        upserts: dict[str, tuple[str, list[str]]],
        lease_id: str = "",
    ) -> JobInfo:
        """Install a job's results atomically with finishing its output commit; a trigger
        that follows the output branch may then fire."""
        info = self.pps.finish_job(
            pipeline, job_id, state, reason, layer, counts, datum_rows, removed, upserts, lease_id
        )
        self._output_landed(info)
        return info

    def _output_landed(self, job: JobInfo) -> None:
        """A job finished its output commit: fire the triggers that follow its branch."""
        if job.output_commit is not None:
            with self.pfs.meta.read() as tx:
                out = tx.commit(job.output_commit.repo, CommitId(job.output_commit.id))
            if out is not None and out.branch is not None and not out.is_open:
                self._follow(out.repo, out.branch)

    def fail_job(self, pipeline: str, job_id: str, reason: str) -> None:
        """End a job as failed, with the reason."""
        self.pps.fail_job(pipeline, job_id, reason)

    # --- in this process: run the jobs -------------------------------------------------------

    def run_jobs(self, parallelism: int = 2) -> list[JobInfo]:
        """Run every pending job here, batch after batch, until none is left (no cluster:
        notebooks and tests); returns the jobs that ran."""
        from raypachy.pps.jobrun import SerialExecutor, run_job

        done = []
        progress = True
        while progress:
            progress = False
            for p in self.pps.list_pipelines():
                while (claim := self._with_token(self.pps.claim_job(p.name))) is not None:
                    info = run_job(claim, self.pps, self.pfs.manifests, self.pfs.backend.uri,
                                   SerialExecutor(), parallelism)  # fmt: skip
                    if info is not None:
                        self._output_landed(info)
                        done.append(info)
                    progress = True
        return done
