"""Questions users ask about pipelines: which datums, what they logged, where data came from."""

from __future__ import annotations

import time
from typing import Any

from raypachy.errors import (
    ConflictError,
    DatumNotFoundError,
    InvalidArgumentError,
    JobNotFoundError,
    ObjectMissingError,
    PipelineNotFoundError,
)
from raypachy.limits import PREVIEW_DATUMS, max_datums
from raypachy.pfs.address import parse_address
from raypachy.pfs.metadata import (
    CommitId,
    DatumId,
    DatumRecord,
    JobId,
    JobRecord,
    as_job_id,
)
from raypachy.pfs.model import CommitRef
from raypachy.pfs.names import is_commit_id, normalize_path
from raypachy.pps.datums import Datum, input_key, iter_leaves, plan
from raypachy.pps.longrunning import kind_of, process_log_key
from raypachy.pps.model import DatumInfo, DatumInput, JobInfo, JobState
from raypachy.pps.service import PPS, new_job_id
from raypachy.pps.skiplog import job_datum_records
from raypachy.pps.spec import parse_spec
from raypachy.pps.worker import job_log_key, live_log_key, log_key


def _datum(d: DatumRecord) -> DatumInfo:
    return DatumInfo(
        id=d.id,
        pipeline=d.pipeline,
        job=d.job,
        state=d.state,
        hash=d.hash,
        inputs=tuple(DatumInput(i.name, i.repo, i.commit, i.path) for i in d.inputs),
        outputs=d.outputs,
        attempts=d.attempts,
        error=d.error,
        duration_s=round(d.duration, 6),
    )


def _job_row(pps: PPS, pipeline: str, job: str | None) -> JobRecord:
    with pps.pfs.meta.read() as tx:
        if tx.pipeline(pipeline) is None:
            raise PipelineNotFoundError(f"pipeline {pipeline} not found")
        row = tx.job(pipeline, as_job_id(job)) if job else next(iter(tx.jobs(pipeline)), None)
    if row is None:
        raise JobNotFoundError(f"job {pipeline}@{job or 'latest'} not found")
    return row


def list_datums(
    pps: PPS, pipeline: str, job: str | None = None, limit: int | None = None,
    start_after: str | None = None,
) -> list[DatumInfo]:  # fmt: skip
    """A job's datums by id: at most ``limit``, after the datum ``start_after``."""
    row = _job_row(pps, pipeline, job)
    after = DatumId(start_after) if start_after is not None else None
    with pps.pfs.meta.read() as tx:
        if not row.counts.skipped:  # every datum has its row: let the store page them
            return [_datum(r) for r in tx.job_datums(pipeline, row.id, after=after, limit=limit)]
        rows = job_datum_records(tx, row)
    rows = [r for r in rows if after is None or r.id > after]
    return [_datum(r) for r in (rows if limit is None else rows[:limit])]


def inspect_datum(pps: PPS, pipeline: str, job: str, datum: str) -> DatumInfo:
    row = _job_row(pps, pipeline, job)
    with pps.pfs.meta.read() as tx:
        rows = job_datum_records(tx, row, DatumId(datum))
    if not rows:
        raise DatumNotFoundError(f"datum {datum} not found in job {pipeline}@{row.id}")
    return _datum(rows[0])


def restart_datum(pps: PPS, pipeline: str, job: str, datum: str) -> JobInfo:
    """Restart a datum of a running job within that job, as Pachyderm does: its batch is
    stopped and started again (the datums batched with it run again too). ``datum`` is a
    datum id or, as in pachctl, the datum's input paths separated by commas.

    On a job that has ended (Pachyderm restarts only running datums), a new job runs the
    job's inputs again: its failed datums are processed, the others skipped.
    """
    row = _job_row(pps, pipeline, job)
    if JobState(row.state).terminal:
        inspect_datum(pps, pipeline, row.id, datum)
        with pps.pfs.meta.write() as tx:
            prow = tx.pipeline(pipeline)
            assert prow is not None
            new_id = new_job_id()
            rerun = JobRecord(pipeline, new_id, prow.version, JobState.CREATED, "", row.inputs,
                              row.output_repo, time.time())  # fmt: skip
            tx.insert_job(rerun)
        return pps.inspect_job(pipeline, new_id)
    if not (is_commit_id(datum) or datum.startswith("/")):
        raise InvalidArgumentError(
            f"{datum!r} names no datum: give a datum id or its input paths (/a.csv,/b.csv)"
        )
    with pps.pfs.meta.write() as tx:
        done = {d.id for cp in tx.checkpoints(pipeline, row.id) for d in cp.datums}
        if datum in done:
            raise ConflictError(f"datum {datum} has already finished in job {pipeline}@{row.id}")
        tx.request_restart(pipeline, row.id, datum, time.time())
    return pps.inspect_job(pipeline, row.id)


def datum_matches(datum: Datum, target: str) -> bool:
    """Whether ``target`` (a datum id, or input paths separated by commas) names ``datum``."""
    if target == datum.id:
        return True
    wanted = [p.strip().rstrip("/") or "/" for p in target.split(",") if p.strip()]
    paths = {i.path.rstrip("/") or "/" for i in datum.inputs}
    paths |= {path for i in datum.inputs for path, _ in i.files}
    return bool(wanted) and all(p in paths for p in wanted)


def preview_datums(
    pps: PPS, spec_data: dict[str, Any], limit: int | None = None
) -> list[dict[str, Any]]:
    """The datums a spec would make on the current data, without running anything.

    Counted first: more than ``limit`` (default ``PREVIEW_DATUMS``, at most
    ``RAYPACHY_MAX_DATUMS``) is refused with the count before any datum is made.
    """
    spec = parse_spec(spec_data)
    ceiling = max_datums()
    name = "the preview limit (--limit)"
    if limit is None:
        limit = min(PREVIEW_DATUMS, ceiling)
    elif limit > ceiling:
        limit, name = ceiling, "RAYPACHY_MAX_DATUMS"
    commits: dict[str | tuple[str, str, str], str] = {}
    with pps.pfs.meta.read() as tx:
        for leaf in iter_leaves(spec.input, spec.name):
            head = pps._head(tx, leaf.repo, leaf.branch) if tx.repo(leaf.repo) else None
            if head is not None:
                commits[input_key(leaf)] = head.id

    def lister(repo: str, commit_id: str) -> Any:
        return pps.pfs.walk_data(f"{repo}@{commit_id}", "/")

    return [
        {
            "id": d.id,
            "inputs": [{"name": i.name, "repo": i.repo, "commit": i.commit, "path": i.path,
                        "files": [p for p, _ in i.files]} for i in d.inputs],
        }
        for d in plan(spec.input, commits, lister, "", spec.name, limit, name)
    ]  # fmt: skip


def read_logs(
    pps: PPS, pipeline: str, job: str | None = None, datum: str | None = None
) -> list[dict[str, Any]]:
    """Each datum's stdout and stderr (or its traceback) for a job (default: the latest).

    While the job runs, its datums have no rows yet: the logs of datums that ended are
    listed as ``finished``, and what running datums printed so far as ``running``.
    """
    if job is None and datum is None:
        process = _process_log(pps, pipeline)
        if process is not None:
            return process
    row = _job_row(pps, pipeline, job)
    with pps.pfs.meta.read() as tx:
        rows = (
            job_datum_records(tx, row, DatumId(datum))
            if datum
            else tx.job_datums(pipeline, row.id)  # skipped datums log nothing in this job
        )
    backend = pps.pfs.backend
    out = []
    job_key = job_log_key(pipeline, row.id)
    if not datum and backend.exists(job_key):  # the job's workers could not start
        log = backend.get(job_key).decode(errors="replace")
        error = row.reason.partition("\n")[0]
        out.append({"job": row.id, "datum": "", "state": "failed", "error": error, "log": log})
    for r in rows:
        key = log_key(pipeline, row.id, r.id)
        text = backend.get(key).decode(errors="replace") if backend.exists(key) else ""
        if text or r.state == "failed":
            out.append({"job": row.id, "datum": r.id, "state": r.state, "error": r.error,
                        "log": text})  # fmt: skip
    if not JobState(row.state).terminal:
        out += _unrecorded_logs(pps, pipeline, row.id, datum, {r.id for r in rows})
    if datum and not out and not rows:
        raise DatumNotFoundError(f"datum {datum} not found in job {pipeline}@{row.id}")
    return out


def _process_log(pps: PPS, pipeline: str) -> list[dict[str, Any]] | None:
    """A spout's or service's process output (None for a pipeline with jobs)."""
    with pps.pfs.meta.read() as tx:
        row = tx.pipeline(pipeline)
    if row is None or kind_of(row.spec) is None:
        return None
    backend = pps.pfs.backend
    key = process_log_key(pipeline)
    try:
        text = backend.get(key).decode(errors="replace")
    except ObjectMissingError:  # not started yet
        text = ""
    state = "running" if row.state == "running" else row.state
    return [{"job": "", "datum": "", "state": state, "error": "", "log": text}]


def _unrecorded_logs(
    pps: PPS, pipeline: str, job: str, datum: str | None, recorded: set[str]
) -> list[dict[str, Any]]:
    """Logs of a running job's datums: written when a datum ended, or live while it runs."""
    backend = pps.pfs.backend
    prefix = log_key(pipeline, job, "")
    ended: set[str] = set()
    live: set[str] = set()
    for key in backend.list(prefix):
        name = key[len(prefix) :]
        if name.startswith("live/"):
            live.add(name.removeprefix("live/"))
        elif "/" not in name:
            ended.add(name)
    out = []
    for name in sorted((ended | live) - recorded):
        if datum and name != datum:
            continue
        finished = name in ended
        key = log_key(pipeline, job, name) if finished else live_log_key(pipeline, job, name)
        try:
            text = backend.get(key).decode(errors="replace")
        except ObjectMissingError:  # the live log of a datum that just ended
            continue
        state = "finished" if finished else "running"
        out.append({"job": job, "datum": name, "state": state, "error": "", "log": text})
    return out


def lineage(pps: PPS, target: str, depth: int = 20) -> dict[str, Any]:
    """Upstream provenance and downstream subvenance of a commit (or of one output file)."""
    addr = parse_address(target)
    commit = pps.pfs.inspect_commit(f"{addr.repo}@{addr.ref or 'master'}" + ("^" * addr.ancestry))
    path = normalize_path(addr.path) if addr.path else None
    return {
        "commit": {"repo": commit.repo, "id": commit.id, "branch": commit.branch},
        "path": path,
        "upstream": _upstream(pps, CommitRef(commit.repo, commit.id), path, depth),
        "downstream": _downstream(pps, CommitRef(commit.repo, commit.id), depth),
    }


def _upstream(pps: PPS, ref: CommitRef, path: str | None, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"repo": ref.repo, "id": ref.id}
    if path:
        node["path"] = path
    job_row = None
    with pps.pfs.meta.read() as tx:
        if tx.pipeline(ref.repo) is not None:
            job_row = tx.job(ref.repo, as_job_id(ref.id))
    if job_row is None:
        node["origin"] = "user"
        return node
    node["origin"] = "pipeline"
    node["pipeline"] = {"name": job_row.pipeline, "version": job_row.version, "job": job_row.id}
    with pps.pfs.meta.read() as tx:
        spec = tx.version_spec(job_row.pipeline, job_row.version) or {}
    t = spec.get("transform", {})
    python = t.get("python")
    node["pipeline"]["code"] = python["function"] if python else " ".join(t.get("cmd", []))
    if t.get("image"):
        node["pipeline"]["image"] = t["image"]
    if depth <= 0:
        return node
    if path:
        datum = _datum_for_output(pps, ref.repo, as_job_id(ref.id), path)
        if datum is not None:
            node["datum"] = datum.id
            node["inputs"] = []
            for i in datum.inputs:
                file_path = None if i.path.endswith("/") else i.path
                child = _upstream(pps, CommitRef(i.repo, i.commit), file_path, depth - 1)
                node["inputs"].append(child | {"glob_match": i.path})
            return node
    node["inputs"] = [_upstream(pps, i.ref, None, depth - 1) for i in job_row.inputs]
    return node


def _datum_for_output(pps: PPS, pipeline: str, job: JobId, path: str) -> DatumInfo | None:
    """The datum whose outputs hold ``path`` in this job's output commit."""
    with pps.pfs.meta.read() as tx:
        row = tx.job(pipeline, job)
        rows = job_datum_records(tx, row) if row is not None else []
    for r in rows:
        if path in r.outputs:
            return _datum(r)
    return None


def _downstream(pps: PPS, ref: CommitRef, depth: int) -> list[dict[str, Any]]:
    if depth <= 0:
        return []
    with pps.pfs.meta.read() as tx:
        subv = tx.subvenance(ref.repo, CommitId(ref.id))
    out = []
    for s in subv:
        node: dict[str, Any] = {"repo": s.repo, "id": s.id}
        with pps.pfs.meta.read() as tx:
            job = tx.job(s.repo, as_job_id(s.id)) if tx.pipeline(s.repo) else None
        if job is not None:
            node["pipeline"] = {"name": job.pipeline, "version": job.version, "state": job.state}
        node["downstream"] = _downstream(pps, s, depth - 1)
        out.append(node)
    return out
