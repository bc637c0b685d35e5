"""What the console asks of pipelines over time: their versions and the jobs that move."""

from __future__ import annotations

import time

from raypachy.errors import InvalidArgumentError, PipelineNotFoundError
from raypachy.pfs.model import utc
from raypachy.pps.model import JobInfo, PipelineVersion
from raypachy.pps.service import LIVE_STATES, PPS

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
