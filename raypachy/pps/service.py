"""Pipelines and jobs over PFS: what pachd's PPS does, without any Ray.

Jobs are created when data lands: ``on_commit`` runs right after a commit finishes and
creates one job per pipeline reading that branch, carrying the commit's global id, so
``wait commit <id>`` can follow the whole DAG. A controller (in ``raypachy.runtime``) claims
jobs one at a time per pipeline, runs the datums and finishes the job together with its
output commit in one transaction.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import blake3

from raypachy.errors import (
    CommitNotFoundError,
    ConflictError,
    InvalidArgumentError,
    InvalidSpecError,
    JobNotFoundError,
    PipelineExistsError,
    PipelineNotFoundError,
    RepoExistsError,
    RepoNotFoundError,
    SecretNotFoundError,
    WaitTimeoutError,
)
from raypachy.pfs import projects
from raypachy.pfs.metadata import (
    CheckpointDatum,
    CheckpointRecord,
    CommitId,
    CommitRecord,
    DatumId,
    DatumInputRecord,
    DatumRecord,
    DatumStateRecord,
    JobId,
    JobInput,
    JobRecord,
    PipelineRecord,
    PipelineVersion,
    RepoRecord,
    Tx,
    as_job_id,
)
from raypachy.pfs.model import Commit, CommitRef, Problem, utc
from raypachy.pfs.service import PFS
from raypachy.pps import fsck, skiplog
from raypachy.pps.codepaths import hash_code_paths
from raypachy.pps.datums import input_key, iter_leaves
from raypachy.pps.egress import read_status
from raypachy.pps.images import check_images
from raypachy.pps.longrunning import kind_of
from raypachy.pps.model import (
    DatumCounts,
    DiffBase,
    JobClaim,
    JobInfo,
    JobState,
    PipelineInfo,
    SecretValues,
)
from raypachy.pps.secretstore import SecretStore
from raypachy.pps.spec import (
    CODE_KEY,
    PfsInput,
    PipelineSpec,
    RayOptions,
    check_code_key,
    parse_spec,
)
from raypachy.storage.manifest import ManifestInfo

#: How long uploaded code waits for the pipeline that will use it before gc may take it.
CODE_PIN_S = 24 * 3600.0

#: The jobs a pipeline's controller has yet to run or finish.
LIVE_STATES = tuple(s.value for s in JobState if not s.terminal)


def version_of(spec: PipelineSpec) -> PipelineVersion:
    """Spec and code together: a changed function or image is a new version."""
    data = spec.to_json()
    python = data.get("transform", {}).get("python")
    if python:
        python.pop("code", None)  # the pickle's bytes vary; the source hash does not
    return PipelineVersion(
        blake3.blake3(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    )


def _transform_label(spec: dict[str, Any]) -> str:
    t = spec.get("transform", {})
    if t.get("python"):
        return f"python {t['python']['function']}"
    return " ".join(t.get("cmd", []))


class PPS:
    def __init__(self, pfs: PFS) -> None:
        self.pfs = pfs
        # Secrets live in files under the home, never in the metadata database.
        self.secrets = SecretStore(pfs.home) if pfs.home else None
        self._own_output_repos()

    def _own_output_repos(self) -> None:
        """Output repos made before repos had writers: only their pipeline writes them."""
        with self.pfs.meta.read() as tx:
            loose = [p.name for p in tx.pipelines()
                     if tx.repo(p.name) is not None and tx.repo_writer(p.name) is None
                     and kind_of(p.spec) != "spout"]  # fmt: skip
        if loose:
            with self.pfs.meta.write() as tx:
                for name in loose:
                    if tx.repo(name) is not None:
                        tx.set_repo_writer(name, f"pipeline {name}")

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
        self._secret_values(spec)  # a secret it names must exist (values are not kept here)
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
        with self.pfs.meta.write() as tx:
            projects.require(tx, name)  # its project must exist
            old = tx.pipeline(name)
            if old is not None and not update:
                raise PipelineExistsError(
                    f"pipeline {name} already exists: use `raypachy update pipeline`"
                )
            if old is None and update:
                raise PipelineNotFoundError(f"pipeline {name} not found: create it first")
            if old is not None and old.version == version and not reprocess:
                return self._info(tx, old), f"pipeline {name} is unchanged (version {version})"
            for leaf in spec.input.leaves():
                if isinstance(leaf, PfsInput) and tx.repo(leaf.repo) is None:
                    raise RepoNotFoundError(
                        f"pipeline {name}: input repo {leaf.repo} not found: "
                        "create it (or the pipeline that writes it) first"
                    )
            self._check_cycle(tx, name, {leaf.repo for leaf in leaves})
            if old is None:
                if tx.repo(name) is not None:
                    raise RepoExistsError(
                        f"repo {name} already exists: a pipeline's output repo takes its name; "
                        "pick another pipeline name"
                    )
                tx.insert_repo(RepoRecord(name, now, f"output of pipeline {name}"))
            # A spout commits to its output repo itself, through the API, as a user does.
            tx.set_repo_writer(name, None if spec.spout is not None else f"pipeline {name}")
            for leaf in leaves:
                if tx.repo(leaf.repo) is None:  # cron tick repos
                    tx.insert_repo(RepoRecord(leaf.repo, now, f"ticks of pipeline {name}"))
            salt = secrets.token_hex(8) if (old is None or reprocess) else old.salt
            row = PipelineRecord(name, version, spec.to_json(), "running", salt,
                                 old.created if old else now, now)  # fmt: skip
            tx.put_pipeline(row)
            job = self._new_job(tx, row, new_job_id())
        note = ""
        if old is not None:
            note = f"pipeline {name} updated to version {version}" + (
                "; every datum will be processed again"
                if reprocess
                else "; datums whose inputs did not change keep their outputs from the "
                "previous version (use --reprocess to run them again)"
            )
        started = f"started job {name}@{job.id}" if job else "it will run when its inputs have data"
        if (kind := kind_of(row.spec)) is not None:
            started = f"its {kind} process starts on the cluster (raypachy logs -p {name})"
        note = "; ".join(n for n in (note, started, image_note) if n)
        return self.inspect_pipeline(name), note

    def _secret_values(self, spec: PipelineSpec) -> SecretValues:
        """The values of the secrets ``spec`` names; one line naming a missing secret or key."""
        wanted: list[Any] = list(spec.transform.secrets or [])
        sql = spec.egress.sql_database if spec.egress is not None else None
        if sql is not None and sql.secret is not None:
            wanted.append(sql.secret)  # the database password, for the egress only
        if not wanted:
            return SecretValues()
        if self.secrets is None:
            raise InvalidSpecError(f"pipeline {spec.name}: transform.secrets needs an "
                                   "installation with a home to keep secrets in")  # fmt: skip
        values: dict[str, dict[str, bytes]] = {}
        for item in wanted:
            assert item.name is not None  # the spec checks it
            try:
                values[item.name] = self.secrets.values(item.name)
            except SecretNotFoundError as e:
                raise SecretNotFoundError(f"pipeline {spec.name}: {e.message}") from None
            if item.key is not None and item.key not in values[item.name]:
                raise SecretNotFoundError(
                    f"pipeline {spec.name}: secret {item.name} has no key {item.key!r} "
                    f"(its keys: {', '.join(sorted(values[item.name]))})"
                )
        return SecretValues(values)

    def _check_cycle(self, tx: Tx, name: str, inputs: set[str]) -> None:
        by_output = {p.name: p for p in tx.pipelines()}
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
        with self.pfs.meta.read() as tx:
            row = tx.pipeline(name)
            if row is None:
                raise PipelineNotFoundError(f"pipeline {name} not found")
            return self._info(tx, row)

    def list_pipelines(self) -> list[PipelineInfo]:
        with self.pfs.meta.read() as tx:
            return [self._info(tx, row) for row in tx.pipelines()]

    def _info(self, tx: Tx, row: PipelineRecord) -> PipelineInfo:
        spec = parse_spec(row.spec)
        jobs = tx.jobs(row.name)
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
        with self.pfs.meta.write() as tx:
            row = tx.pipeline(name)
            if row is None:
                raise PipelineNotFoundError(f"pipeline {name} not found")
            readers = [
                p.name for p in tx.pipelines()
                if name in {leaf.repo for leaf in iter_leaves(parse_spec(p.spec).input, p.name)}
            ]  # fmt: skip
            if readers:
                raise ConflictError(
                    f"pipeline {readers[0]} reads the output of {name}: delete it first"
                )
            ticks = [
                leaf.repo for leaf in iter_leaves(parse_spec(row.spec).input, name)
                if leaf.repo.startswith(f"{name}_")
                and (r := tx.repo(leaf.repo)) is not None
                and r.description.startswith("ticks of pipeline")
            ]  # fmt: skip
            tx.delete_pipeline(name)
            if keep_repo and tx.repo(name) is not None:
                tx.set_repo_writer(name, None)  # a kept output repo is the user's now
            if not keep_repo:
                for repo in [name, *ticks]:
                    if tx.repo(repo) is not None:
                        tx.delete_repo(repo)

    def repo_users(self, repo: str) -> list[str]:
        """What a repo is to the pipelines: each line names one and how it uses the repo."""
        out = []
        with self.pfs.meta.read() as tx:
            for row in tx.pipelines():
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
            # Later jobs' skipped datums are derived from the history these jobs are part
            # of: write them down first, so those jobs list the same datums afterwards.
            for rec in removed:
                gone = tx.job(rec.repo, JobId(rec.id)) if tx.pipeline(rec.repo) else None
                if gone is not None:
                    for later in tx.jobs(rec.repo):
                        if later.seq > gone.seq:
                            tx.insert_job_datums(skiplog.skipped_datums(tx, later))
            for rec in removed:
                row = tx.pipeline(rec.repo)
                if row is None:
                    continue
                job = tx.job(rec.repo, JobId(rec.id))
                if job is not None and not JobState(job.state).terminal:
                    raise ConflictError(
                        f"job {rec.repo}@{rec.id} is still {job.state}: stop it first "
                        f"(raypachy stop job {rec.repo}@{rec.id})"
                    )
                tx.delete_job(rec.repo, JobId(rec.id))
                branch = parse_spec(row.spec).output_branch
                head = tx.branch(rec.repo, branch)
                last = tx.job(rec.repo, JobId(head.head)) if head and head.head else None
                tx.reset_datum_states(rec.repo, None, ())
                tx.replace_datum_states(rec.repo, (), skiplog.states_after(tx, last, rec.repo))

        return hook

    def set_pipeline_state(self, name: str, running: bool) -> PipelineInfo:
        with self.pfs.meta.write() as tx:
            row = tx.pipeline(name)
            if row is None:
                raise PipelineNotFoundError(f"pipeline {name} not found")
            state = "running" if running else "stopped"
            new = replace(row, state=state)
            tx.put_pipeline(new)
            if running and row.state != "running" and self._missed(tx, new):
                self._new_job(tx, new, new_job_id())
        return self.inspect_pipeline(name)

    def _missed(self, tx: Tx, row: PipelineRecord) -> bool:
        """Whether input heads moved since the pipeline's last job (say, while it was stopped)."""
        jobs = tx.jobs(row.name)
        heads = self._heads(tx, parse_spec(row.spec), row.name)
        if not jobs:
            return bool(heads)
        seen = {(i.repo, i.branch, i.id) for i in jobs[0].inputs}
        return any((h.repo, h.branch, h.id) not in seen for h in heads)

    # --- jobs ------------------------------------------------------------------------------

    def _head(self, tx: Tx, repo: str, branch: str) -> CommitRecord | None:
        """The newest finished commit on a branch (an open head is not read yet)."""
        row = tx.branch(repo, branch)
        rec = tx.commit(repo, row.head) if row and row.head else None
        while rec is not None and rec.is_open:
            rec = tx.commit(repo, rec.parent) if rec.parent else None
        return rec

    def _heads(self, tx: Tx, spec: PipelineSpec, pipeline: str) -> tuple[JobInput, ...]:
        """The commit each input reads now: the head of its branch (inputs without one are
        left out); union inputs sharing a name and a branch are listed once."""
        inputs: dict[tuple[str, str, str], JobInput] = {}
        for leaf in iter_leaves(spec.input, pipeline):
            head = self._head(tx, leaf.repo, leaf.branch) if tx.repo(leaf.repo) else None
            if head is not None:
                item = JobInput(leaf.input_name, leaf.repo, leaf.branch, head.id)
                inputs.setdefault(input_key(leaf), item)
        return tuple(inputs.values())

    def _new_job(self, tx: Tx, row: PipelineRecord, job_id: JobId) -> JobRecord | None:
        if row.state != "running" or tx.job(row.name, job_id) is not None:
            return None
        if kind_of(row.spec) is not None:
            return None  # a spout's or service's process runs for good: no jobs, no datums
        inputs = self._heads(tx, parse_spec(row.spec), row.name)
        if not inputs:
            return None
        job = JobRecord(row.name, job_id, row.version, JobState.CREATED, "", inputs, row.name,
                        time.time())  # fmt: skip
        return tx.insert_job(job)

    @staticmethod
    def _save_job(tx: Tx, job: JobRecord) -> None:
        """Write a job's row; an ended job resumes no more, so its checkpoints go."""
        tx.update_job(job)
        if JobState(job.state).terminal:
            tx.delete_checkpoints(job.pipeline, job.id)

    def on_commit(self, commit: Commit) -> list[str]:
        """Create the jobs a finished commit triggers; returns their pipelines."""
        if commit.finished is None or commit.branch is None:
            return []
        with self.pfs.meta.write() as tx:
            return self._trigger(tx, commit.repo, commit.branch, JobId(CommitId(commit.id)))

    def on_branch_moved(self, repo: str, branch: str) -> list[str]:
        """A branch head moved (``create branch --head``, a rollback): one job per pipeline
        reading it, on the new head, under a new global id, as Pachyderm propagates a move;
        returns their pipelines."""
        with self.pfs.meta.write() as tx:
            row = tx.branch(repo, branch)
            head = tx.commit(repo, row.head) if row and row.head else None
            if head is None or head.is_open:
                return []  # nothing to read yet; finishing the open head triggers the jobs
            return self._trigger(tx, repo, branch, new_job_id())

    def _trigger(self, tx: Tx, repo: str, branch: str, commit_id: JobId) -> list[str]:
        """Inside a transaction: one job per pipeline reading ``repo@branch``, with the id."""
        created = []
        for row in tx.pipelines():
            spec = parse_spec(row.spec)
            reads = any(
                leaf.repo == repo and leaf.branch == branch
                for leaf in iter_leaves(spec.input, row.name)
            )
            if reads and self._new_job(tx, row, commit_id) is not None:
                created.append(row.name)
        return created

    def list_jobs(
        self, pipeline: str | None = None, job_id: str | None = None,
        limit: int | None = None, start_after: str | None = None,
    ) -> list[JobInfo]:  # fmt: skip
        """Newest first; at most ``limit``, after the job ``start_after`` (``pipeline@id``)."""
        with self.pfs.meta.read() as tx:
            if pipeline is not None and tx.pipeline(pipeline) is None:
                raise PipelineNotFoundError(f"pipeline {pipeline} not found")
            before = None
            if start_after is not None:
                after_pipeline, _, after_id = start_after.rpartition("@")
                row = tx.job(after_pipeline or pipeline or "", JobId(CommitId(after_id)))
                if row is None:
                    raise JobNotFoundError(f"job {start_after} to list after not found")
                before = row.seq
            rows = tx.jobs(pipeline, JobId(CommitId(job_id)) if job_id else None, before, limit)
            return [self._job_info(r) for r in rows]

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        with self.pfs.meta.read() as tx:
            row = tx.job(pipeline, as_job_id(job_id))
        if row is None:
            raise JobNotFoundError(f"job {pipeline}@{job_id} not found")
        info = self._job_info(row)
        if JobState(info.state).terminal and self._has_egress(pipeline):
            info = replace(info, egress=read_status(self.pfs.backend, pipeline, row.id))
        return info

    def _has_egress(self, pipeline: str) -> bool:
        with self.pfs.meta.read() as tx:
            row = tx.pipeline(pipeline)
        return row is not None and "egress" in row.spec

    def wait_job(self, pipeline: str, job_id: str, timeout: float | None = None) -> JobInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self.pfs.meta.change_version()
            job = self.inspect_job(pipeline, job_id)
            if JobState(job.state).terminal:
                return job
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(
                    f"job {pipeline}@{job_id} is still {job.state} after {timeout}s"
                )
            self.pfs.meta.wait_change(seen, min(left, 1.0))  # woken by the next write

    def stop_job(self, pipeline: str, job_id: str) -> JobInfo:
        with self.pfs.meta.write() as tx:
            row = tx.job(pipeline, as_job_id(job_id))
            if row is None:
                raise JobNotFoundError(f"job {pipeline}@{job_id} not found")
            if not JobState(row.state).terminal:
                killed = replace(
                    row, state=JobState.KILLED, reason="stopped by the user", finished=time.time()
                )
                self._save_job(tx, killed)
        self._close_output(pipeline, row.id, "job killed: stopped by the user")
        return self.inspect_job(pipeline, job_id)

    def _close_output(self, pipeline: str, job_id: JobId, error: str) -> None:
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
                self._trigger(tx, out.repo, out.branch, JobId(out.id))

        return trigger

    def _job_info(self, row: JobRecord) -> JobInfo:
        out = CommitRef(row.output_repo, row.id) if row.started else None
        c = row.counts
        return JobInfo(
            id=row.id,
            pipeline=row.pipeline,
            version=row.version,
            state=row.state,
            datums=c,
            output_commit=out,
            inputs=tuple(i.ref for i in row.inputs),
            created=utc(row.created),  # type: ignore[arg-type]
            started=utc(row.started),
            finished=utc(row.finished),
            reason=row.reason,
        )

    # --- what a controller asks -----------------------------------------------------------

    def pipelines_with_jobs(self) -> list[str]:
        """The pipelines with a job not yet ended (one query, whatever the number of
        pipelines: the controller host asks it on every change)."""
        with self.pfs.meta.read() as tx:
            live = tx.recent_jobs(0, math.inf, LIVE_STATES)  # no newest, no ended: live only
        return sorted({job.pipeline for job in live})

    def claim_job(self, pipeline: str) -> JobClaim | None:
        """The job this pipeline's controller should run now (resuming one it was running).

        Opens the job's output commit (global id, provenance = the input commits). A job
        whose inputs failed upstream is finished at once as ``unrunnable``.
        """
        while True:
            with self.pfs.meta.read() as tx:  # the common answer, "nothing", takes no write lock
                if not tx.jobs_in_states(pipeline, LIVE_STATES):
                    return None
            with self.pfs.meta.write() as tx:
                row = tx.pipeline(pipeline)
                if row is None or row.state != "running":
                    return None
                active = tx.jobs_in_states(pipeline, LIVE_STATES)
                if not active:
                    return None
                job = active[0]
                spec = tx.version_spec(pipeline, job.version) or row.spec
                gone = sorted(
                    {leaf.repo for leaf in iter_leaves(parse_spec(spec).input, pipeline)
                     if tx.repo(leaf.repo) is None}
                )  # fmt: skip
                if gone and job.state == JobState.CREATED:
                    reason = (f"input repo {gone[0]} was deleted: create it again, or update the "
                              "pipeline to read another repo")  # fmt: skip
                    self._save_job(tx, replace(job, state=JobState.FAILURE, reason=reason,
                                               finished=time.time()))  # fmt: skip
                    continue
                resumed = job.state != JobState.CREATED
                if not resumed:
                    inputs = self._settle_inputs(tx, job, spec)
                    if inputs is None:
                        return None  # an upstream job of the same id is still running
                    job = replace(job, state=JobState.STARTING, started=time.time(), inputs=inputs)
                    self._save_job(tx, job)
                failed = [
                    str(i.ref) for i in job.inputs
                    if (c := tx.commit(i.repo, i.id)) is not None and c.error
                ]  # fmt: skip
                # In the claim's transaction: one synced write, not two. (These two errors
                # come before the output commit is written: the claim is saved all the same.)
                output, cannot = "", None
                try:
                    output = self._open_output(job, spec)
                except (RepoNotFoundError, CommitNotFoundError) as e:
                    cannot = e
            if cannot is not None:
                # A repo or commit it reads or writes was deleted (`delete repo --force`):
                # the job ends with the reason, rather than being claimed again forever.
                self.fail_job(pipeline, job.id, f"job could not start: {cannot.message}")
                continue
            if failed:
                reason = f"unrunnable: input commit {failed[0]} failed upstream"
                with self.pfs.meta.write() as tx:
                    current = tx.job(pipeline, job.id)
                    if current is not None:
                        ended = replace(
                            current, state=JobState.UNRUNNABLE, reason=reason, finished=time.time()
                        )
                        self._save_job(tx, ended)
                self._close_output(pipeline, job.id, reason)
                continue
            try:
                values = self._secret_values(parse_spec(spec))
            except SecretNotFoundError as e:  # deleted since the pipeline was created
                self.fail_job(pipeline, job.id, f"job could not start: {e.message}")
                continue
            return JobClaim(pipeline, job.id, job.version, spec, row.salt, job.inputs,
                            job.output_repo, output, values, resumed=resumed)  # fmt: skip

    def _settle_inputs(
        self, tx: Tx, job: JobRecord, spec: dict[str, Any]
    ) -> tuple[JobInput, ...] | None:
        """The commits a starting job reads: for inputs written by pipelines, their commit of
        the same global id once its job has ended (None while it runs), else the branch head.

        This is what makes a job that reads two branches of one DAG (say features and a model
        trained on them) see both commits of the change, never a stale one; and a job whose
        inputs got commits from one transaction (one id) wait until all of them finished.
        """
        inputs: dict[tuple[str, str, str], JobInput] = {}
        for leaf in iter_leaves(parse_spec(spec).input, job.pipeline):
            upstream = tx.job(leaf.repo, job.id) if tx.pipeline(leaf.repo) else None
            if upstream is not None and not JobState(upstream.state).terminal:
                return None
            same_id = tx.commit(leaf.repo, job.id)
            if same_id is not None and same_id.is_open and same_id.origin == "user":
                return None  # a commit of the same transaction: the job waits for it
            head = same_id if same_id is not None and not same_id.is_open else None
            head = head or self._head(tx, leaf.repo, leaf.branch)
            if head is not None:
                item = JobInput(leaf.input_name, leaf.repo, leaf.branch, head.id)
                inputs.setdefault(input_key(leaf), item)
        return tuple(inputs.values())

    def _open_output(self, job: JobRecord, spec: dict[str, Any]) -> str:
        branch = spec.get("output_branch", "master")
        with self.pfs.meta.read() as tx:
            existing = tx.commit(job.output_repo, job.id)
        if existing is None:
            provenance = tuple(i.ref for i in job.inputs)
            head = None
            with self.pfs.meta.read() as tx:
                head = self._head(tx, job.output_repo, branch)
            self.pfs.commits.start(
                job.output_repo, branch, head.id if head else None,
                f"pipeline {job.pipeline} version {job.version}", job.id, provenance, "auto",
            )  # fmt: skip
        return job.id

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None:
        """Progress from the controller: state, counts (total, processed, skipped, failed,
        recovered) or reason."""
        if "counts" in fields:
            fields["counts"] = DatumCounts(*fields["counts"])
        with self.pfs.meta.write() as tx:
            row = tx.job(pipeline, as_job_id(job_id))
            if row is None:
                raise JobNotFoundError(f"job {pipeline}@{job_id} not found")
            if JobState(row.state).terminal:
                return  # a stopped job stays stopped
            self._save_job(tx, replace(row, **fields))

    def job_is_live(self, pipeline: str, job_id: str) -> bool:
        with self.pfs.meta.read() as tx:
            row = tx.job(pipeline, as_job_id(job_id))
        return row is not None and not JobState(row.state).terminal

    def take_datum_restarts(self, pipeline: str, job_id: str) -> list[str]:
        """Datums asked to restart in this running job (see ``queries.restart_datum``)."""
        jid = as_job_id(job_id)
        with self.pfs.meta.read() as tx:  # polled often by a running job: reads first
            if not tx.has_restarts(pipeline, jid):
                return []
        with self.pfs.meta.write() as tx:
            return tx.take_restarts(pipeline, jid)

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]:
        """Each datum's hash and outputs as the pipeline's last jobs left them."""
        with self.pfs.meta.read() as tx:
            states = tx.datum_states(pipeline)
        return {s.id: (s.hash, list(s.outputs)) for s in states}

    def datum_states_of(self, pipeline: str, ids: list[str]) -> dict[str, tuple[str, list[str]]]:
        """``datum_states`` of just these datums (those that have a record)."""
        with self.pfs.meta.read() as tx:
            states = tx.datum_states_of(pipeline, [DatumId(d) for d in ids])
        return {s.id: (s.hash, list(s.outputs)) for s in states}

    def diff_base(self, pipeline: str, job_id: str, salt: str) -> DiffBase | None:
        """What a job may plan from: the inputs and datum count of the job before it, when
        that job left a complete record of every datum (it succeeded with no datum failed or
        recovered, with this job's version and salt, and the records are all its own plus
        those it skipped). None when the job has to plan from scratch."""
        jid = as_job_id(job_id)
        with self.pfs.meta.read() as tx:
            row = tx.job(pipeline, jid)
            prow = tx.pipeline(pipeline)
            if row is None or prow is None:
                return None
            before = tx.jobs(pipeline, before_seq=row.seq, limit=1)
            if not before:
                return None
            prev = before[0]
            c = prev.counts
            if (
                prev.state != JobState.SUCCESS
                or prev.version != row.version
                or prow.salt != salt
                or prev.started is None
                or prow.updated >= prev.started  # the salt may have changed since it ran
                or c.failed
                or c.recovered
                or c.total != c.processed + c.skipped
                or tx.count_datum_states(pipeline) != c.total
            ):
                return None
        return DiffBase(tuple((i.name, i.repo, i.branch, i.id) for i in prev.inputs), c.total)

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
        datums = tuple(CheckpointDatum(r[0], r[1], r[2], tuple(r[3]), r[4], r[5], r[6])
                       for r in results)  # fmt: skip
        with self.pfs.meta.write() as tx:
            if lease_id:
                self.pfs.leases.require(tx, lease_id)
            row = tx.job(pipeline, as_job_id(job_id))
            if row is not None and not JobState(row.state).terminal:
                tx.add_checkpoint(CheckpointRecord(pipeline, row.id, layer, datums))

    def checkpoints(
        self, pipeline: str, job_id: str
    ) -> list[tuple[ManifestInfo | None, list[list[Any]]]]:
        """The batches a job finished before it was interrupted, oldest first."""
        with self.pfs.meta.read() as tx:
            rows = tx.checkpoints(pipeline, as_job_id(job_id))
        return [
            (cp.layer, [[d.id, d.hash, d.state, list(d.outputs), d.attempts, d.error, d.duration]
                        for d in cp.datums])
            for cp in rows
        ]  # fmt: skip

    def checkpoint_manifests(self) -> set[str]:
        """Manifests written by unfinished jobs' batches (gc keeps them)."""
        with self.pfs.meta.read() as tx:
            return tx.checkpoint_manifests()

    def commit_layers(self, repo: str, commit_id: str) -> list[ManifestInfo]:
        with self.pfs.meta.read() as tx:
            rec = tx.commit(repo, CommitId(commit_id))
        if rec is None:
            raise CommitNotFoundError(f"commit {repo}@{commit_id} not found")
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

        ``datum_rows`` are (datum, state, hash, inputs as [name, repo, commit, path] lists,
        outputs, attempts, error, duration); ``upserts`` map a datum to its (hash, outputs).
        """
        jid = as_job_id(job_id)
        with self.pfs.meta.read() as tx:
            row = tx.job(pipeline, jid)
        if row is None:
            raise JobNotFoundError(f"job {pipeline}@{job_id} not found")
        if JobState(row.state).terminal:
            return self._job_info(row)  # stopped meanwhile: its results are dropped

        with self.pfs.meta.read() as tx:
            out = tx.commit(row.output_repo, jid)
        assert out is not None
        downstream = self._downstream(out)
        states = [DatumStateRecord(pipeline, DatumId(d), h, tuple(o), jid)
                  for d, (h, o) in upserts.items()]  # fmt: skip

        def record(tx: Tx) -> None:
            current = tx.job(pipeline, jid)
            if current is not None:
                ended = replace(current, state=state, reason=reason, counts=DatumCounts(*counts),
                                finished=time.time())  # fmt: skip
                self._save_job(tx, ended)
            # one record at a time: thousands alive at once would keep the collector busy
            tx.insert_job_datums(_datum_record(pipeline, jid, r) for r in datum_rows)
            tx.replace_datum_states(pipeline, [DatumId(d) for d in removed], states)
            tx.insert_gone_datums(pipeline, jid, [DatumId(d) for d in removed])
            downstream(tx)

        error = None if state == JobState.SUCCESS else (reason or state)
        # The layer is staged in the finishing transaction: one write, not three.
        self.pfs.commits.finish(
            row.output_repo, jid, error=error, also=record, layer=layer, lease_id=lease_id
        )
        return self.inspect_job(pipeline, job_id)

    def fail_job(self, pipeline: str, job_id: str, reason: str) -> None:
        """A job the controller could not run: failed with the reason, output closed."""
        with self.pfs.meta.write() as tx:
            row = tx.job(pipeline, as_job_id(job_id))
            if row is None or JobState(row.state).terminal:
                return
            self._save_job(tx, replace(row, state=JobState.FAILURE, reason=reason,
                                       finished=time.time()))  # fmt: skip
        self._close_output(pipeline, row.id, reason)

    def fsck(self, fix: bool = False) -> list[Problem]:
        """Jobs and datum records against PFS (see ``raypachy.pps.fsck``)."""
        return fsck.check(self.pfs, self._close_output, fix)

    def pin_code(self, code: str, lease_id: str) -> None:
        """Keep uploaded code (written under ``lease_id``, still live) for a pipeline to use:
        gc spares it until a pipeline version references it, or for ``CODE_PIN_S``."""
        check_code_key(code)
        if not self.pfs.chunks.exists(bytes.fromhex(code)):
            raise InvalidArgumentError(
                f"code {code} is not in {self.pfs.backend.uri}: upload it first"
            )
        with self.pfs.meta.write() as tx:
            self.pfs.leases.require(tx, lease_id)
            tx.pin_code(code, time.time(), CODE_PIN_S)

    def code_keys(self) -> set[bytes]:
        """Chunk ids of every stored Python transform, and of code uploaded recently for a
        pipeline still to be created (gc keeps them)."""
        with self.pfs.meta.read() as tx:
            specs = tx.all_version_specs()
            pinned = tx.pinned_code(time.time() - CODE_PIN_S)
        codes = [spec.get("transform", {}).get("python", {}).get("code") for spec in specs]
        keys = set()
        for code in [*codes, *pinned]:
            if isinstance(code, str) and CODE_KEY.fullmatch(code):  # older specs: unchecked
                keys.add(bytes.fromhex(code))
        return keys


def new_job_id() -> JobId:
    """A new global id (a job's, and its output commit's)."""
    return as_job_id(secrets.token_hex(16))


def _datum_record(pipeline: str, job: JobId, row: tuple[Any, ...]) -> DatumRecord:
    """A datum row as ``raypachy.pps.merge`` makes it, as the store keeps it."""
    datum, state, hash_, inputs, outputs, attempts, error, duration = row
    return DatumRecord(
        pipeline, job, DatumId(datum), state, hash_, tuple([DatumInputRecord(*i) for i in inputs]),
        tuple(outputs), attempts, error, duration,
    )  # fmt: skip
