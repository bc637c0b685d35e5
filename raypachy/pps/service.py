"""Pipelines and jobs over PFS: what pachd's PPS does, without any Ray.

Jobs are created when data lands: ``on_commit`` runs right after a commit finishes and
creates one job per pipeline reading that branch, carrying the commit's global id, so
``wait commit <id>`` can follow the whole DAG. A controller (in ``raypachy.runtime``) claims
jobs one at a time per pipeline, runs the datums and finishes the job together with its
output commit in one transaction.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import blake3

from raypachy.errors import (
    CommitNotFound,
    ConflictError,
    InvalidArgumentError,
    InvalidSpecError,
    JobNotFound,
    PipelineExists,
    PipelineNotFound,
    RepoExists,
    RepoNotFound,
    WaitTimeout,
)
from raypachy.pfs.metadata import Tx
from raypachy.pfs.model import Commit, CommitRef, Problem, utc
from raypachy.pfs.records import CommitRecord
from raypachy.pfs.service import PFS
from raypachy.pps.codepaths import hash_code_paths
from raypachy.pps.datums import input_key, iter_leaves
from raypachy.pps.images import check_images
from raypachy.pps.model import DatumCounts, JobInfo, JobState, PipelineInfo
from raypachy.pps.spec import (
    CODE_KEY,
    PfsInput,
    PipelineSpec,
    RayOptions,
    check_code_key,
    parse_spec,
)
from raypachy.pps.store import JobRow, PipelineRow, PpsTx, init_schema
from raypachy.storage.manifest import ManifestInfo

#: How long uploaded code waits for the pipeline that will use it before gc may take it.
CODE_PIN_S = 24 * 3600.0


def version_of(spec: PipelineSpec) -> str:
    """Spec and code together: a changed function or image is a new version."""
    data = spec.to_json()
    python = data.get("transform", {}).get("python")
    if python:
        python.pop("code", None)  # the pickle's bytes vary; the source hash does not
    return blake3.blake3(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _transform_label(spec: dict[str, Any]) -> str:
    t = spec.get("transform", {})
    if t.get("python"):
        return f"python {t['python']['function']}"
    return " ".join(t.get("cmd", []))


class PPS:
    def __init__(self, pfs: PFS) -> None:
        self.pfs = pfs
        init_schema(pfs.meta)
        self._own_output_repos()

    def _own_output_repos(self) -> None:
        """Output repos made before repos had writers: only their pipeline writes them."""
        with self._read() as (tx, ptx):
            loose = [p.name for p in ptx.pipelines()
                     if tx.repo(p.name) is not None and tx.repo_writer(p.name) is None]  # fmt: skip
        if loose:
            with self._write() as (tx, _):
                for name in loose:
                    if tx.repo(name) is not None:
                        tx.set_repo_writer(name, f"pipeline {name}")

    @contextmanager
    def _write(self) -> Iterator[tuple[Tx, PpsTx]]:
        with self.pfs.meta.write() as tx:
            yield tx, PpsTx(tx.c)

    @contextmanager
    def _read(self) -> Iterator[tuple[Tx, PpsTx]]:
        with self.pfs.meta.read() as tx:
            yield tx, PpsTx(tx.c)

    # --- pipelines ---------------------------------------------------------------------

    def create_pipeline(
        self,
        spec_data: dict[str, Any],
        update: bool = False,
        reprocess: bool = False,
        images: str = "off",
    ) -> tuple[PipelineInfo, str]:
        """Create (or update) a pipeline; returns it and a note for the user.

        ``images`` is the cluster's image mode (see ``raypachy.pps.images``).
        """
        spec = parse_spec(spec_data)
        if spec.transform.code_paths:  # the files a command runs are part of its version
            code_hash = hash_code_paths(spec.transform.code_paths)
            spec = spec.model_copy(
                update={"transform": spec.transform.model_copy(update={"code_hash": code_hash})}
            )
        ray_opts = spec.ray or RayOptions.model_validate({})
        image_note = check_images(spec.name, spec.transform.image, ray_opts.runtime_env,
                                  ray_opts.allow_mutable_image, images)  # fmt: skip
        name, version, now = spec.name, version_of(spec), time.time()
        leaves = list(iter_leaves(spec.input, name))
        with self._write() as (tx, ptx):
            old = ptx.pipeline(name)
            if old is not None and not update:
                raise PipelineExists(
                    f"pipeline {name} already exists: use `raypachy update pipeline`"
                )
            if old is None and update:
                raise PipelineNotFound(f"pipeline {name} not found: create it first")
            if old is not None and old.version == version and not reprocess:
                return self._info(tx, ptx, old), f"pipeline {name} is unchanged (version {version})"
            for leaf in spec.input.leaves():
                if isinstance(leaf, PfsInput) and tx.repo(leaf.repo) is None:
                    raise RepoNotFound(
                        f"pipeline {name}: input repo {leaf.repo} not found: "
                        "create it (or the pipeline that writes it) first"
                    )
            self._check_cycle(ptx, name, {leaf.repo for leaf in leaves})
            if old is None:
                if tx.repo(name) is not None:
                    raise RepoExists(
                        f"repo {name} already exists: a pipeline's output repo takes its name; "
                        "pick another pipeline name"
                    )
                tx.insert_repo(name, now, f"output of pipeline {name}")
                tx.set_repo_writer(name, f"pipeline {name}")
            for leaf in leaves:
                if tx.repo(leaf.repo) is None:  # cron tick repos
                    tx.insert_repo(leaf.repo, now, f"ticks of pipeline {name}")
            salt = secrets.token_hex(8) if (old is None or reprocess) else old.salt
            row = PipelineRow(name, version, spec.to_json(), "running", salt,
                              old.created if old else now, now)  # fmt: skip
            ptx.put_pipeline(row)
            job = self._new_job(tx, ptx, row, secrets.token_hex(16))
        note = ""
        if old is not None:
            note = f"pipeline {name} updated to version {version}" + (
                "; every datum will be processed again"
                if reprocess
                else "; datums whose inputs did not change keep their outputs from the "
                "previous version (use --reprocess to run them again)"
            )
        started = f"started job {name}@{job.id}" if job else "it will run when its inputs have data"
        note = "; ".join(n for n in (note, started, image_note) if n)
        return self.inspect_pipeline(name), note

    def _check_cycle(self, ptx: PpsTx, name: str, inputs: set[str]) -> None:
        by_output = {p.name: p for p in ptx.pipelines()}
        seen: set[str] = set()
        todo = list(inputs)
        while todo:
            repo = todo.pop()
            if repo == name:
                raise InvalidSpecError(f"pipeline {name} would read its own output (a cycle)")
            if repo in seen or repo not in by_output:
                continue
            seen.add(repo)
            upstream = parse_spec(by_output[repo].spec)
            todo.extend(leaf.repo for leaf in iter_leaves(upstream.input, repo))

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        with self._read() as (tx, ptx):
            row = ptx.pipeline(name)
            if row is None:
                raise PipelineNotFound(f"pipeline {name} not found")
            return self._info(tx, ptx, row)

    def list_pipelines(self) -> list[PipelineInfo]:
        with self._read() as (tx, ptx):
            return [self._info(tx, ptx, row) for row in ptx.pipelines()]

    def _info(self, tx: Tx, ptx: PpsTx, row: PipelineRow) -> PipelineInfo:
        spec = parse_spec(row.spec)
        jobs = ptx.jobs(row.name)
        last = jobs[0] if jobs else None
        resources: dict[str, Any] = {}
        if spec.resource_requests is not None:
            resources = spec.resource_requests.model_dump(exclude_none=True)
        return PipelineInfo(
            name=row.name,
            version=row.version,
            state=row.state,
            description=spec.description,
            spec=row.spec,
            inputs=tuple(leaf.repo for leaf in iter_leaves(spec.input, row.name)),
            output_repo=row.name,
            created=utc(row.created),  # type: ignore[arg-type]
            updated=utc(row.updated),  # type: ignore[arg-type]
            transform=_transform_label(row.spec),
            last_job=last.id if last else None,
            last_job_state=last.state if last else None,
            resources=resources,
        )

    def delete_pipeline(self, name: str, keep_repo: bool = False) -> None:
        with self._write() as (tx, ptx):
            row = ptx.pipeline(name)
            if row is None:
                raise PipelineNotFound(f"pipeline {name} not found")
            readers = [
                p.name for p in ptx.pipelines()
                if name in {leaf.repo for leaf in iter_leaves(parse_spec(p.spec).input, p.name)}
            ]  # fmt: skip
            if readers:
                raise ConflictError(
                    f"pipeline {readers[0]} reads the output of {name}: delete it first"
                )
            ticks = [
                leaf.repo for leaf in iter_leaves(parse_spec(row.spec).input, name)
                if leaf.repo.startswith(f"{name}_")
                and (tx.repo(leaf.repo) or ("", 0, ""))[2].startswith("ticks of pipeline")
            ]  # fmt: skip
            ptx.delete_pipeline(name)
            if keep_repo and tx.repo(name) is not None:
                tx.set_repo_writer(name, None)  # a kept output repo is the user's now
            if not keep_repo:
                for repo in [name, *ticks]:
                    if tx.repo(repo) is not None:
                        tx.delete_repo(repo)

    def repo_users(self, repo: str) -> list[str]:
        """What a repo is to the pipelines: each line names one and how it uses the repo."""
        out = []
        with self._read() as (_, ptx):
            for row in ptx.pipelines():
                leaves = list(iter_leaves(parse_spec(row.spec).input, row.name))
                if row.name == repo:
                    out.append(f"pipeline {row.name} writes it (its output repo)")
                if any(leaf.repo == repo for leaf in leaves):
                    out.append(f"pipeline {row.name} reads it")
        return out

    def removal_hook(self) -> Callable[[Tx, list[CommitRecord]], None]:
        """For ``delete commit``/``squash commit`` of a set holding output commits: their jobs
        go with them, and each pipeline's datum records become those of the job whose output
        is the new head, so that skipping never trusts outputs that are gone."""

        def hook(tx: Tx, removed: list[CommitRecord]) -> None:
            ptx = PpsTx(tx.c)
            for rec in removed:
                row = ptx.pipeline(rec.repo)
                if row is None:
                    continue
                job = ptx.job(rec.repo, rec.id)
                if job is not None and not JobState(job.state).terminal:
                    raise ConflictError(
                        f"job {rec.repo}@{rec.id} is still {job.state}: stop it first "
                        f"(raypachy stop job {rec.repo}@{rec.id})"
                    )
                ptx.delete_job(rec.repo, rec.id)
                branch = parse_spec(row.spec).output_branch
                head = tx.branch(rec.repo, branch)
                ptx.reset_datum_states(rec.repo, head[2] if head and head[2] else None)

        return hook

    def set_pipeline_state(self, name: str, running: bool) -> PipelineInfo:
        with self._write() as (tx, ptx):
            row = ptx.pipeline(name)
            if row is None:
                raise PipelineNotFound(f"pipeline {name} not found")
            state = "running" if running else "stopped"
            new = replace(row, state=state)
            ptx.put_pipeline(new)
            if running and row.state != "running" and self._missed(tx, ptx, new):
                self._new_job(tx, ptx, new, secrets.token_hex(16))
        return self.inspect_pipeline(name)

    def _missed(self, tx: Tx, ptx: PpsTx, row: PipelineRow) -> bool:
        """Whether input heads moved since the pipeline's last job (say, while it was stopped)."""
        jobs = ptx.jobs(row.name)
        heads = self._heads(tx, parse_spec(row.spec), row.name)
        if not jobs:
            return bool(heads)
        seen = {(i["repo"], i["branch"], i["id"]) for i in jobs[0].inputs}
        return any((h["repo"], h["branch"], h["id"]) not in seen for h in heads)

    # --- jobs ------------------------------------------------------------------------------

    def _head(self, tx: Tx, repo: str, branch: str) -> CommitRecord | None:
        """The newest finished commit on a branch (an open head is not read yet)."""
        row = tx.branch(repo, branch)
        rec = tx.commit(repo, row[2]) if row and row[2] else None
        while rec is not None and rec.is_open:
            rec = tx.commit(repo, rec.parent) if rec.parent else None
        return rec

    def _heads(self, tx: Tx, spec: PipelineSpec, pipeline: str) -> list[dict[str, str]]:
        """The commit each input reads now: the head of its branch (inputs without one are
        left out); union inputs sharing a name and a branch are listed once."""
        inputs: dict[tuple[str, str, str], dict[str, str]] = {}
        for leaf in iter_leaves(spec.input, pipeline):
            head = self._head(tx, leaf.repo, leaf.branch) if tx.repo(leaf.repo) else None
            if head is not None:
                item = {"name": leaf.input_name, "repo": leaf.repo, "branch": leaf.branch,
                        "id": head.id}  # fmt: skip
                inputs.setdefault(input_key(leaf), item)
        return list(inputs.values())

    def _new_job(self, tx: Tx, ptx: PpsTx, row: PipelineRow, job_id: str) -> JobRow | None:
        if row.state != "running" or ptx.job(row.name, job_id) is not None:
            return None
        inputs = self._heads(tx, parse_spec(row.spec), row.name)
        if not inputs:
            return None
        job = JobRow(row.name, job_id, row.version, JobState.CREATED, "", inputs,
                     row.name, time.time(), None, None, (0, 0, 0, 0, 0), 0)  # fmt: skip
        ptx.insert_job(job)
        return job

    def on_commit(self, commit: Commit) -> list[str]:
        """Create the jobs a finished commit triggers; returns their pipelines."""
        if commit.finished is None or commit.branch is None:
            return []
        with self._write() as (tx, ptx):
            return self._trigger(tx, ptx, commit.repo, commit.branch, commit.id)

    def on_branch_moved(self, repo: str, branch: str) -> list[str]:
        """A branch head moved (``create branch --head``, a rollback): one job per pipeline
        reading it, on the new head, under a new global id, as Pachyderm propagates a move;
        returns their pipelines."""
        with self._write() as (tx, ptx):
            row = tx.branch(repo, branch)
            head = tx.commit(repo, row[2]) if row and row[2] else None
            if head is None or head.is_open:
                return []  # nothing to read yet; finishing the open head triggers the jobs
            return self._trigger(tx, ptx, repo, branch, secrets.token_hex(16))

    def _trigger(self, tx: Tx, ptx: PpsTx, repo: str, branch: str, commit_id: str) -> list[str]:
        """Inside a transaction: one job per pipeline reading ``repo@branch``, with the id."""
        created = []
        for row in ptx.pipelines():
            spec = parse_spec(row.spec)
            reads = any(
                leaf.repo == repo and leaf.branch == branch
                for leaf in iter_leaves(spec.input, row.name)
            )
            if reads and self._new_job(tx, ptx, row, commit_id) is not None:
                created.append(row.name)
        return created

    def list_jobs(
        self, pipeline: str | None = None, job_id: str | None = None,
        limit: int | None = None, start_after: str | None = None,
    ) -> list[JobInfo]:  # fmt: skip
        """Newest first; at most ``limit``, after the job ``start_after`` (``pipeline@id``)."""
        with self._read() as (_, ptx):
            if pipeline is not None and ptx.pipeline(pipeline) is None:
                raise PipelineNotFound(f"pipeline {pipeline} not found")
            before = None
            if start_after is not None:
                after_pipeline, _, after_id = start_after.rpartition("@")
                row = ptx.job(after_pipeline or pipeline or "", after_id)
                if row is None:
                    raise JobNotFound(f"job {start_after} to list after not found")
                before = row.seq
            return [self._job_info(r) for r in ptx.jobs(pipeline, job_id, before, limit)]

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        with self._read() as (_, ptx):
            row = ptx.job(pipeline, job_id)
        if row is None:
            raise JobNotFound(f"job {pipeline}@{job_id} not found")
        return self._job_info(row)

    def wait_job(self, pipeline: str, job_id: str, timeout: float | None = None) -> JobInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self.pfs.meta.changes.version
            job = self.inspect_job(pipeline, job_id)
            if JobState(job.state).terminal:
                return job
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"job {pipeline}@{job_id} is still {job.state} after {timeout}s")
            self.pfs.meta.wait_change(seen, min(left, 1.0))  # woken by the next write

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        with self._write() as (_, ptx):
            row = ptx.job(pipeline, job_id)
            if row is None:
                raise JobNotFound(f"job {pipeline}@{job_id} not found")
            if not JobState(row.state).terminal:
                ptx.update_job(pipeline, job_id, state=JobState.KILLED,
                               reason="stopped by the user", finished=time.time())  # fmt: skip
        self._close_output(pipeline, job_id, "job killed: stopped by the user")
        return self.inspect_job(pipeline, job_id)

    def _close_output(self, pipeline: str, job_id: str, error: str) -> None:
        """Finish a dead job's output commit with an error (downstream jobs become unrunnable)."""
        with self.pfs.meta.read() as tx:
            out = tx.commit(pipeline, job_id)
        if out is not None and out.is_open:
            self.pfs.commits.finish(pipeline, job_id, error=error, also=self._downstream(out))

    def _downstream(self, out: CommitRecord) -> Callable[[Tx], None]:
        """Create the jobs an output commit triggers in the transaction that finishes it, so
        that no one waiting on the global id sees a gap between two jobs of the DAG."""

        def trigger(tx: Tx) -> None:
            if out.branch is not None:
                self._trigger(tx, PpsTx(tx.c), out.repo, out.branch, out.id)

        return trigger

    def _job_info(self, row: JobRow) -> JobInfo:
        out = CommitRef(row.output_repo, row.id) if row.started else None
        return JobInfo(
            id=row.id,
            pipeline=row.pipeline,
            version=row.version,
            state=row.state,
            datums=DatumCounts(*row.counts),
            output_commit=out,
            inputs=tuple(CommitRef(i["repo"], i["id"]) for i in row.inputs),
            created=utc(row.created),  # type: ignore[arg-type]
            started=utc(row.started),
            finished=utc(row.finished),
            reason=row.reason,
        )

    # --- what a controller asks -----------------------------------------------------------

    def claim_job(self, pipeline: str) -> dict[str, Any] | None:
        """The job this pipeline's controller should run now (resuming one it was running).

        Opens the job's output commit (global id, provenance = the input commits). A job
        whose inputs failed upstream is finished at once as ``unrunnable``.
        """
        while True:
            with self._read() as (_, ptx):  # the common answer, "nothing", takes no write lock
                if not ptx.active_jobs(pipeline):
                    return None
            with self._write() as (tx, ptx):
                row = ptx.pipeline(pipeline)
                if row is None or row.state != "running":
                    return None
                active = ptx.active_jobs(pipeline)
                if not active:
                    return None
                job = active[0]
                spec = ptx.version_spec(pipeline, job.version) or row.spec
                gone = sorted(
                    {leaf.repo for leaf in iter_leaves(parse_spec(spec).input, pipeline)
                     if tx.repo(leaf.repo) is None}
                )  # fmt: skip
                if gone and job.state == JobState.CREATED:
                    reason = (f"input repo {gone[0]} was deleted: create it again, or update the "
                              "pipeline to read another repo")  # fmt: skip
                    ptx.update_job(pipeline, job.id, state=JobState.FAILURE, reason=reason,
                                   finished=time.time())  # fmt: skip
                    continue
                if job.state == JobState.CREATED:
                    inputs = self._settle_inputs(tx, ptx, job, spec)
                    if inputs is None:
                        return None  # an upstream job of the same id is still running
                    ptx.update_job(pipeline, job.id, state=JobState.STARTING,
                                   started=time.time(), inputs=json.dumps(inputs))  # fmt: skip
                    job = replace(job, inputs=inputs)
                failed = [
                    f"{i['repo']}@{i['id']}" for i in job.inputs
                    if (c := tx.commit(i["repo"], i["id"])) is not None and c.error
                ]  # fmt: skip
            try:
                output = self._open_output(job, spec)
            except (RepoNotFound, CommitNotFound) as e:
                # A repo or commit it reads or writes was deleted (`delete repo --force`):
                # the job ends with the reason, rather than being claimed again forever.
                self.fail_job(pipeline, job.id, f"job could not start: {e.message}")
                continue
            if failed:
                reason = f"unrunnable: input commit {failed[0]} failed upstream"
                with self._write() as (_, ptx):
                    ptx.update_job(pipeline, job.id, state=JobState.UNRUNNABLE, reason=reason,
                                   finished=time.time())  # fmt: skip
                self._close_output(pipeline, job.id, reason)
                continue
            return {
                "pipeline": pipeline,
                "job": job.id,
                "version": job.version,
                "spec": spec,
                "salt": row.salt,
                "inputs": job.inputs,
                "output_repo": job.output_repo,
                "output_commit": output,
            }

    def _settle_inputs(
        self, tx: Tx, ptx: PpsTx, job: JobRow, spec: dict[str, Any]
    ) -> list[dict[str, str]] | None:
        """The commits a starting job reads: for inputs written by pipelines, their commit of
        the same global id once its job has ended (None while it runs), else the branch head.

        This is what makes a job that reads two branches of one DAG (say features and a model
        trained on them) see both commits of the change, never a stale one.
        """
        inputs: dict[tuple[str, str, str], dict[str, str]] = {}
        for leaf in iter_leaves(parse_spec(spec).input, job.pipeline):
            upstream = ptx.job(leaf.repo, job.id) if ptx.pipeline(leaf.repo) else None
            if upstream is not None and not JobState(upstream.state).terminal:
                return None
            same_id = tx.commit(leaf.repo, job.id)
            head = same_id if same_id is not None and not same_id.is_open else None
            head = head or self._head(tx, leaf.repo, leaf.branch)
            if head is not None:
                item = {"name": leaf.input_name, "repo": leaf.repo, "branch": leaf.branch,
                        "id": head.id}  # fmt: skip
                inputs.setdefault(input_key(leaf), item)
        return list(inputs.values())

    def _open_output(self, job: JobRow, spec: dict[str, Any]) -> str:
        branch = spec.get("output_branch", "master")
        with self.pfs.meta.read() as tx:
            existing = tx.commit(job.output_repo, job.id)
        if existing is None:
            provenance = [CommitRef(i["repo"], i["id"]) for i in job.inputs]
            head = None
            with self.pfs.meta.read() as tx:
                head = self._head(tx, job.output_repo, branch)
            self.pfs.commits.start(
                job.output_repo, branch, head.id if head else None,
                f"pipeline {job.pipeline} version {job.version}", job.id, tuple(provenance), "auto",
            )  # fmt: skip
        return job.id

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None:
        """Progress from the controller: state, counts (total, processed, skipped, failed,
        recovered) or reason."""
        with self._write() as (_, ptx):
            row = ptx.job(pipeline, job_id)
            if row is None:
                raise JobNotFound(f"job {pipeline}@{job_id} not found")
            if JobState(row.state).terminal:
                return  # a stopped job stays stopped
            ptx.update_job(pipeline, job_id, **fields)

    def job_is_live(self, pipeline: str, job_id: str) -> bool:
        with self._read() as (_, ptx):
            row = ptx.job(pipeline, job_id)
        return row is not None and not JobState(row.state).terminal

    def take_datum_restarts(self, pipeline: str, job_id: str) -> list[str]:
        """Datums asked to restart in this running job (see ``queries.restart_datum``)."""
        with self._read() as (_, ptx):  # polled often by a running job: reads first
            if not ptx.has_restarts(pipeline, job_id):
                return []
        with self._write() as (_, ptx):
            return ptx.take_restarts(pipeline, job_id)

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]:
        with self._read() as (_, ptx):
            return ptx.datum_states(pipeline)

    def checkpoint_batch(
        self,
        pipeline: str,
        job_id: str,
        layer: ManifestInfo | None,
        results: list[list[Any]],
        lease_id: str = "",
    ) -> None:
        """Record a finished batch of a running job, so a crash does not lose its datums.

        ``results`` holds the datums that succeeded, as ``DatumResult`` field lists. With
        ``lease_id`` (the lease the batch was written under), that lease must still be live.
        """
        with self._write() as (tx, ptx):
            if lease_id:
                self.pfs.leases.require(tx, lease_id)
            row = ptx.job(pipeline, job_id)
            if row is not None and not JobState(row.state).terminal:
                saved = None if layer is None else (layer.id, layer.rows)
                ptx.add_checkpoint(pipeline, job_id, saved, results)

    def checkpoints(
        self, pipeline: str, job_id: str
    ) -> list[tuple[ManifestInfo | None, list[list[Any]]]]:
        """The batches a job finished before it was interrupted, oldest first."""
        with self._read() as (_, ptx):
            rows = ptx.checkpoints(pipeline, job_id)
        return [(None if lay is None else ManifestInfo(*lay), results) for lay, results in rows]

    def checkpoint_manifests(self) -> set[str]:
        """Manifests written by unfinished jobs' batches (gc keeps them)."""
        with self._read() as (_, ptx):
            return ptx.checkpoint_manifests()

    def commit_layers(self, repo: str, commit_id: str) -> list[ManifestInfo]:
        with self.pfs.meta.read() as tx:
            rec = tx.commit(repo, commit_id)
        if rec is None:
            raise RepoNotFound(f"commit {repo}@{commit_id} not found")
        return list(rec.layers + rec.staged)

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
        """Install a job's results: its output layer, its datums, its state, atomically
        with finishing its output commit; then trigger the jobs downstream.

        With ``lease_id`` (the lease the job's outputs were written under), that lease must
        still be live when the output layer is staged.
        """
        with self._read() as (_, ptx):
            row = ptx.job(pipeline, job_id)
        if row is None:
            raise JobNotFound(f"job {pipeline}@{job_id} not found")
        if JobState(row.state).terminal:
            return self._job_info(row)  # stopped meanwhile: its results are dropped
        if layer is not None and layer.rows:
            self.pfs.commits.stage(row.output_repo, job_id, layer, lease_id)

        with self.pfs.meta.read() as tx:
            out = tx.commit(row.output_repo, job_id)
        assert out is not None
        downstream = self._downstream(out)

        def record(tx: Tx) -> None:
            ptx = PpsTx(tx.c)
            ptx.update_job(pipeline, job_id, state=state, reason=reason, counts=counts,
                           finished=time.time())  # fmt: skip
            ptx.insert_job_datums(pipeline, job_id, datum_rows)
            ptx.replace_datum_states(pipeline, job_id, removed, upserts)
            downstream(tx)

        error = None if state == JobState.SUCCESS else (reason or state)
        self.pfs.commits.finish(row.output_repo, job_id, error=error, also=record)
        return self.inspect_job(pipeline, job_id)

    def fail_job(self, pipeline: str, job_id: str, reason: str) -> None:
        """A job the controller could not run: failed with the reason, output closed."""
        with self._write() as (_, ptx):
            row = ptx.job(pipeline, job_id)
            if row is None or JobState(row.state).terminal:
                return
            ptx.update_job(pipeline, job_id, state=JobState.FAILURE, reason=reason,
                           finished=time.time())  # fmt: skip
        self._close_output(pipeline, job_id, reason)

    def fsck(self, fix: bool = False) -> list[Problem]:
        """Jobs and their output commits: an ended job's output commit must be finished."""
        problems = []
        with self._read() as (tx, ptx):
            jobs = ptx.jobs()
            outs = {(j.pipeline, j.id): tx.commit(j.output_repo, j.id) for j in jobs}
        for job in jobs:
            out = outs[(job.pipeline, job.id)]
            if JobState(job.state).terminal and out is not None and out.is_open:
                if fix:
                    self._close_output(job.pipeline, job.id, f"job ended: {job.state}")
                message = f"job is {job.state} but its output commit is open"
                problems.append(Problem("job", f"{job.pipeline}@{job.id}", message, fixed=fix))
        return problems + self._diverged_datums(fix)

    def _diverged_datums(self, fix: bool) -> list[Problem]:
        """Datum records that say "done" while their outputs are missing from the output
        branch: the next job would skip them and the outputs would never come back."""
        problems = []
        with self._read() as (tx, ptx):
            heads = {}
            for row in ptx.pipelines():
                branch = tx.branch(row.name, parse_spec(row.spec).output_branch)
                rec = tx.commit(row.name, branch[2]) if branch and branch[2] else None
                heads[row.name] = (rec, ptx.datum_states(row.name))
        for pipeline, (rec, states) in heads.items():
            tree = self.pfs.commits.tree(rec.layers + rec.staged) if rec is not None else None
            gone = {
                datum: missing for datum, (_, outputs) in states.items()
                if (missing := [p for p in outputs if tree is None or tree.lookup(p) is None])
            }  # fmt: skip
            if gone and fix:
                with self._write() as (_, ptx):
                    ptx.replace_datum_states(pipeline, "", sorted(gone), {})
            for datum, missing in sorted(gone.items()):
                where = f"{pipeline}@{rec.id}" if rec is not None else f"{pipeline} (no commit)"
                message = (
                    f"datum is recorded as done but its output {missing[0]} is not in {where}"
                    + ("; it runs again in the next job" if fix else "; fsck --fix makes it rerun")
                )
                problems.append(Problem("datum", f"{pipeline}/{datum}", message, fixed=fix))
        return problems

    def pin_code(self, code: str, lease_id: str) -> None:
        """Keep uploaded code (written under ``lease_id``, still live) for a pipeline to use:
        gc spares it until a pipeline version references it, or for ``CODE_PIN_S``."""
        check_code_key(code)
        if not self.pfs.chunks.exists(bytes.fromhex(code)):
            raise InvalidArgumentError(
                f"code {code} is not in {self.pfs.backend.uri}: upload it first"
            )
        with self._write() as (tx, ptx):
            self.pfs.leases.require(tx, lease_id)
            ptx.pin_code(code, time.time(), CODE_PIN_S)

    def code_keys(self) -> set[bytes]:
        """Chunk ids of every stored Python transform, and of code uploaded recently for a
        pipeline still to be created (gc keeps them)."""
        with self._read() as (_, ptx):
            specs = ptx.all_version_specs()
            pinned = ptx.pinned_code(time.time() - CODE_PIN_S)
        codes = [spec.get("transform", {}).get("python", {}).get("code") for spec in specs]
        keys = set()
        for code in [*codes, *pinned]:
            if isinstance(code, str) and CODE_KEY.fullmatch(code):  # older specs: unchecked
                keys.add(bytes.fromhex(code))
        return keys
