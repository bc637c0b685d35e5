"""What the HTTP API may ask of the metadata side, as plain synchronous methods.

One ``Operations`` lives next to the metadata store (inside the metadata actor on Ray, or
in-process in tests). Every result is a picklable value; iterators become lists.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from raypachy.errors import CommitNotFound, ConflictError, InvalidArgumentError
from raypachy.pfs.address import parse_address
from raypachy.pfs.model import (
    Branch,
    Commit,
    CommitRef,
    FileChange,
    FileInfo,
    FsckReport,
    GCReport,
    Repo,
)
from raypachy.pfs.names import normalize_path
from raypachy.pfs.service import PFS
from raypachy.pfs.wire import file_data_to_json
from raypachy.pps import history, queries, ticks
from raypachy.pps.ignored import spec_warnings
from raypachy.pps.model import DatumInfo, JobInfo, JobState, PipelineInfo
from raypachy.pps.service import PPS
from raypachy.pps.spec import parse_spec
from raypachy.storage.manifest import ManifestInfo
from raypachy.storage.verify import verify_layer

#: The operations the API server may call by name (nothing else is reachable).
NAMES = frozenset(
    {
        "create_repo", "inspect_repo", "list_repos", "delete_repo",
        "create_branch", "inspect_branch", "list_branches", "delete_branch",
        "start_commit", "finish_commit", "inspect_commit", "list_commits", "commit_set",
        "delete_commit", "squash_commit",
        "list_files", "glob_files", "inspect_file", "diff_files", "walk_refs", "path_kind",
        "delete_file", "copy_file", "check_writable", "register_layer",
        "acquire_lease", "heartbeat_lease", "release_lease", "register_code", "gc", "status",
        "commit_set_state",
        "fsck",
        # pipelines, jobs, datums
        "create_pipeline", "inspect_pipeline", "list_pipelines", "delete_pipeline",
        "stop_pipeline", "start_pipeline", "list_jobs", "inspect_job", "stop_job",
        "list_datums", "inspect_datum", "restart_datum", "preview_datums", "logs", "lineage",
        "list_pipeline_versions", "list_recent_jobs",  # the console
        # what pipeline controllers ask
        "claim_job", "update_job", "job_is_live", "datum_states", "commit_layers", "tick_cron",
        "take_datum_restarts",
        "checkpoint_batch", "checkpoints",
        "finish_job", "fail_job",
    }
)  # fmt: skip

#: Operations after which the set of pipeline controllers may have to change.
PIPELINE_CHANGES = frozenset(
    {"create_pipeline", "delete_pipeline", "stop_pipeline", "start_pipeline"}
)


def _check_entry_path(path: str) -> None:
    """A client-written manifest may only hold normalised absolute paths (or ``/dir/``)."""
    bare = path[:-1] if path.endswith("/") and path != "/" else path
    try:
        ok = normalize_path(bare) == bare
    except InvalidArgumentError:
        ok = False
    if not ok:
        raise InvalidArgumentError(f"manifest path {path!r} is not a normalised absolute path")


class Operations:
    def __init__(self, pfs: PFS, images: str = "off") -> None:
        self.pfs = pfs
        self.pps = PPS(pfs)
        self.images = images  # the cluster's image mode

    def _landed(self, commit: Commit) -> Commit:
        """A commit that may have finished: create the jobs it triggers."""
        if commit.finished is not None:
            self.pps.on_commit(commit)
        return commit

    # Repos, branches, commits: the library does the work.
    def create_repo(self, name: str, description: str = "", update: bool = False) -> Repo:
        return self.pfs.create_repo(name, description, update)

    def inspect_repo(self, name: str) -> Repo:
        return self.pfs.inspect_repo(name)

    def list_repos(self) -> list[Repo]:
        return self.pfs.list_repos()

    def delete_repo(self, name: str, force: bool = False) -> list[str]:
        """Delete a repo no pipeline uses; with ``force`` anyway, returning what breaks."""
        users = self.pps.repo_users(name)
        if users and not force:
            raise ConflictError(
                f"cannot delete repo {name}: {'; '.join(users)}; delete the pipeline(s) first, or "
                f"use `raypachy delete repo {name} --force`"
            )
        self.pfs.delete_repo(name, force=force)
        return [f"{user}: its next jobs fail until the repo exists again" for user in users]

    def create_branch(self, repo: str, name: str, head: str | None, **kw: Any) -> Branch:
        before = next((b.head for b in self.pfs.list_branches(repo) if b.name == name), None)
        branch = self.pfs.create_branch(repo, name, head, **kw)
        if branch.head != before:  # a moved head is new data for the pipelines reading it
            self.pps.on_branch_moved(repo, name)
        return branch

    def inspect_branch(self, repo: str, name: str) -> Branch:
        return self.pfs.inspect_branch(repo, name)

    def list_branches(self, repo: str) -> list[Branch]:
        return self.pfs.list_branches(repo)

    def delete_branch(self, repo: str, name: str) -> None:
        self.pfs.delete_branch(repo, name)

    def start_commit(self, target: str, **kw: Any) -> Commit:
        if "provenance" in kw:
            kw["provenance"] = [CommitRef(p["repo"], p["id"]) for p in kw["provenance"]]
        return self.pfs.start_commit(target, **kw)

    def finish_commit(self, target: str, **kw: Any) -> Commit:
        return self._landed(self.pfs.finish_commit(target, **kw))

    def inspect_commit(self, target: str) -> Commit:
        return self.pfs.inspect_commit(target)

    def list_commits(
        self, repo: str | None, branch: str | None, limit: int | None,
        start_after: str | None = None,
    ) -> list[Commit]:  # fmt: skip
        return self.pfs.list_commits(repo, branch, limit, start_after)

    def commit_set(self, commit_id: str) -> list[Commit]:
        return self.pfs.commit_set(commit_id)

    def delete_commit(self, target: str) -> list[str]:
        return self.pfs.delete_commit(target, also=self.pps.removal_hook())

    def squash_commit(self, target: str) -> list[str]:
        return self.pfs.squash_commit(target, also=self.pps.removal_hook())

    # Files.
    def list_files(
        self, target: str, path: str, limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        return self.pfs.list_files(target, path, limit, start_after)

    def glob_files(
        self, target: str, pattern: str, limit: int | None = None, start_after: str | None = None
    ) -> list[FileInfo]:
        return self.pfs.glob_files(target, pattern, limit, start_after)

    def inspect_file(self, target: str, path: str) -> FileInfo:
        return self.pfs.inspect_file(target, path)

    def diff_files(self, new: str, old: str | None, path: str) -> list[FileChange]:
        return self.pfs.diff_files(new, old, path)

    def walk_refs(
        self, target: str, path: str, limit: int | None = None, start_after: str | None = None
    ) -> list[dict[str, Any]]:
        """Where the bytes of every file at or under ``path`` are (for direct reads): at most
        ``limit`` files, after the path ``start_after``."""
        path = normalize_path(path)
        found = itertools.islice(self.pfs.walk_data(target, path, start_after), limit)
        return [file_data_to_json(p, d) for p, d in found]

    def path_kind(self, target: str, path: str) -> str | None:
        return self.pfs.path_kind(parse_address(target), normalize_path(path))

    def delete_file(self, target: str, path: str) -> Commit:
        return self._landed(self.pfs.delete_file(target, path))

    def copy_file(self, src: str, src_path: str, dst: str, dst_path: str, append: bool) -> Commit:
        return self._landed(self.pfs.copy_file(src, src_path, dst, dst_path, append))

    # The data plane: clients write chunks and a manifest, then register it here.
    def check_writable(self, target: str) -> None:
        self.pfs.check_writable(parse_address(target))

    def register_layer(self, target: str, manifest_id: str, lease_id: str) -> Commit:
        """Apply a client-written layer, checked in full (``verify_layer``: a client's word
        decides nothing), under the live lease its chunks were written under."""
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

    def acquire_lease(self, host: str, pid: int, max_s: float | None = None) -> str:
        return self.pfs.leases.acquire(host, pid, max_s=max_s)

    def heartbeat_lease(self, lease_id: str) -> None:
        self.pfs.leases.heartbeat(lease_id)

    def release_lease(self, lease_id: str) -> None:
        self.pfs.leases.release(lease_id)

    def gc(self, on_phase: Callable[[str], None] | None = None) -> GCReport:
        return self.pfs.gc(self.pps.code_keys, self.pps.checkpoint_manifests, on_phase)

    def fsck(self, fix: bool = False, deep: bool = False) -> FsckReport:
        report = self.pfs.fsck(fix, deep)
        return replace(report, problems=report.problems + tuple(self.pps.fsck(fix)))

    # Waits: the API holds them as coroutines and re-checks on each change (server/waits.py).
    def wait_change(self, since: int | None, timeout: float) -> int:
        """The metadata's change counter once it differs from ``since`` (or after timeout)."""
        return self.pfs.meta.wait_change(since, timeout)

    def commit_set_state(self, commit_id: str) -> dict[str, Any]:
        """A global id's commits, and what of its DAG still runs (``busy``, "" when done)."""
        commits = self.pfs.commit_set(commit_id)
        jobs = self.pps.list_jobs(job_id=commit_id)
        if not commits and not jobs:
            raise CommitNotFound(f"commit {commit_id} not found")
        busy = [str(c.ref) for c in commits if c.finished is None]
        busy += [f"job {j.pipeline}@{commit_id}" for j in jobs if not JobState(j.state).terminal]
        return {"commits": commits, "busy": busy[0] if busy else ""}

    # Pipelines.
    def create_pipeline(
        self, spec: dict[str, Any], update: bool = False, reprocess: bool = False
    ) -> dict[str, Any]:
        info, note = self.pps.create_pipeline(spec, update, reprocess, self.images)
        warnings = [
            f"pipeline {info.name}: {w}" for w in spec_warnings(parse_spec(spec), self.images)
        ]
        return {"pipeline": info, "note": note, "warnings": warnings}

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        return self.pps.inspect_pipeline(name)

    def list_pipelines(self) -> list[PipelineInfo]:
        return self.pps.list_pipelines()

    def delete_pipeline(self, name: str, keep_repo: bool = False) -> None:
        self.pps.delete_pipeline(name, keep_repo)

    def stop_pipeline(self, name: str) -> PipelineInfo:
        return self.pps.set_pipeline_state(name, running=False)

    def start_pipeline(self, name: str) -> PipelineInfo:
        return self.pps.set_pipeline_state(name, running=True)

    def list_jobs(
        self, pipeline: str | None = None, job_id: str | None = None,
        limit: int | None = None, start_after: str | None = None,
    ) -> list[JobInfo]:  # fmt: skip
        return self.pps.list_jobs(pipeline, job_id, limit, start_after)

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        return self.pps.inspect_job(pipeline, job_id)

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        return self.pps.stop_job(pipeline, job_id)

    def list_datums(
        self, pipeline: str, job: str | None, limit: int | None = None,
        start_after: str | None = None,
    ) -> list[DatumInfo]:  # fmt: skip
        return queries.list_datums(self.pps, pipeline, job, limit, start_after)

    def inspect_datum(self, pipeline: str, job: str, datum: str) -> DatumInfo:
        return queries.inspect_datum(self.pps, pipeline, job, datum)

    def restart_datum(self, pipeline: str, job: str, datum: str) -> JobInfo:
        return queries.restart_datum(self.pps, pipeline, job, datum)

    def preview_datums(
        self, spec: dict[str, Any], limit: int | None = None
    ) -> list[dict[str, Any]]:
        return queries.preview_datums(self.pps, spec, limit)

    def logs(self, pipeline: str, job: str | None, datum: str | None) -> list[dict[str, Any]]:
        return queries.read_logs(self.pps, pipeline, job, datum)

    def lineage(self, target: str) -> dict[str, Any]:
        return queries.lineage(self.pps, target)

    def list_pipeline_versions(self, name: str) -> list[history.PipelineVersion]:
        return history.pipeline_versions(self.pps, name)

    def list_recent_jobs(self, limit: int = 200) -> list[JobInfo]:
        return history.recent_jobs(self.pps, limit)

    # What controllers ask.
    def claim_job(self, pipeline: str) -> dict[str, Any] | None:
        return self.pps.claim_job(pipeline)

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None:
        self.pps.update_job(pipeline, job_id, **fields)

    def take_datum_restarts(self, pipeline: str, job_id: str) -> list[str]:
        return self.pps.take_datum_restarts(pipeline, job_id)

    def tick_cron(self, pipeline: str) -> float | None:
        return ticks.tick_cron(self.pps, pipeline)

    def job_is_live(self, pipeline: str, job_id: str) -> bool:
        return self.pps.job_is_live(pipeline, job_id)

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]:
        return self.pps.datum_states(pipeline)

    def commit_layers(self, repo: str, commit_id: str) -> list[ManifestInfo]:
        return self.pps.commit_layers(repo, commit_id)

    def checkpoint_batch(self, *args: Any, **kw: Any) -> None:
        self.pps.checkpoint_batch(*args, **kw)

    def checkpoints(self, pipeline: str, job_id: str) -> list[tuple[Any, list[list[Any]]]]:
        return self.pps.checkpoints(pipeline, job_id)

    def finish_job(self, *args: Any, **kw: Any) -> JobInfo:
        result: JobInfo = self.pps.finish_job(*args, **kw)
        return result

    def fail_job(self, pipeline: str, job_id: str, reason: str) -> None:
        self.pps.fail_job(pipeline, job_id, reason)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "storage": self.pfs.backend.uri,
            "repos": len(self.pfs.list_repos()),
        }
