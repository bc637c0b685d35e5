"""Pipelines over time: their versions (``inspect pipeline NAME^1``), running one again
on its current inputs (``rerun pipeline``), and the jobs a live view follows."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import replace

from raypachy.errors import (
    ConflictError,
    InvalidArgumentError,
    PipelineNotFoundError,
)
from raypachy.pfs.metadata import PipelineVersion as VersionId
from raypachy.pfs.model import utc
from raypachy.pps.longrunning import kind_of
from raypachy.pps.model import JobInfo, PipelineInfo, PipelineVersion
from raypachy.pps.service import LIVE_STATES, PPS, new_job_id

#: ``name^N`` (or ``~N``): the version N before the current one.
_BACK_RE = re.compile(r"^(?P<name>[^\^~]+)(?P<back>(?:[\^~]\d*)+)$")


def split_back(text: str) -> tuple[str, int]:
    """``("edges", 1)`` for ``edges^1`` (``edges^`` and ``edges~1`` too); ``(text, 0)`` else."""
    match = _BACK_RE.match(text)
    if match is None:
        return text, 0
    back = sum(int(d) if d else 1 for d in re.findall(r"[\^~](\d*)", match["back"]))
    return match["name"], back


def inspect_version(pps: PPS, name: str, back: int) -> PipelineInfo:
    """The pipeline as it was ``back`` versions before its current one."""
    versions = pipeline_versions(pps, name)
    at = next(i for i, v in enumerate(versions) if v.current)
    if back > at:
        raise PipelineNotFoundError(
            f"pipeline {name}^{back} does not exist: {name} has {at} earlier version(s) "
            f"(`raypachy list pipeline {name} --history all` lists them)"
        )
    old = versions[at - back]
    with pps.pfs.meta.read() as tx:
        row = tx.pipeline(name)
        if row is None:
            raise PipelineNotFoundError(f"pipeline {name} not found")
        then = replace(row, version=VersionId(old.version), spec=old.spec,
                       updated=old.created.timestamp())  # fmt: skip
        return pps._info(tx, then)


def rerun(pps: PPS, name: str, reprocess: bool = False) -> JobInfo:
    """A new job of ``name`` on its inputs' current heads; with ``reprocess`` every datum runs
    again (a new salt), else the datums done before are skipped."""
    with pps.pfs.meta.write() as tx:
        row = tx.pipeline(name)
        if row is None:
            raise PipelineNotFoundError(f"pipeline {name} not found")
        if row.state != "running":
            raise ConflictError(
                f"pipeline {name} is stopped: start it first (`raypachy start pipeline {name}`)"
            )
        if (kind := kind_of(row.spec)) is not None:
            raise ConflictError(
                f"pipeline {name} is a {kind}: it runs one process, not jobs; restart it with "
                f"`raypachy stop pipeline {name}` then `raypachy start pipeline {name}`"
            )
        if reprocess:
            row = replace(row, salt=secrets.token_hex(8), updated=time.time())
            tx.put_pipeline(row)
        job = pps._new_job(tx, row, new_job_id())
        if job is None:
            raise ConflictError(f"pipeline {name} has nothing to run: its inputs have no data yet")
    return pps.inspect_job(name, job.id)


#: How long an ended job stays among the recent ones, whatever the limit.
ENDED_WINDOW_S = 120.0
MAX_RECENT = 1000


def pipeline_versions(pps: PPS, name: str) -> list[PipelineVersion]:
    """Every version of ``name``, oldest first (the current one marked)."""
    with pps.pfs.meta.read() as tx:
        row = tx.pipeline(name)
        if row is None:
            raise PipelineNotFoundError(f"pipeline {name} not found")
        versions = tx.versions(name)
    return [
        PipelineVersion(name, v.version, v.spec, utc(v.created), v.jobs, v.version == row.version)  # type: ignore[arg-type]
        for v in versions
    ]


def recent_jobs(pps: PPS, limit: int = 200) -> list[JobInfo]:
    """The ``limit`` newest jobs plus every job running or ended in the last two minutes.

    One query whose answer stays small however long the history: what a live view polls.
    """
    if not 1 <= limit <= MAX_RECENT:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_RECENT}, not {limit}")
    with pps.pfs.meta.read() as tx:
        rows = tx.recent_jobs(limit, time.time() - ENDED_WINDOW_S, LIVE_STATES)
    return [pps._job_info(r) for r in rows]
