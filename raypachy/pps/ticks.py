"""Writing cron ticks: each due tick is a commit to the tick repo, and so a job.

The controller of a pipeline with cron inputs calls ``tick_cron`` and sleeps until the time
it returns; everything it decides comes from the database (the last tick is the tick repo's
head), so a restarted controller, or a cluster that was down, simply calls it again and
catches up with one tick.
"""

from __future__ import annotations

import time

from raypachy.errors import InvalidArgumentError, PipelineNotFoundError
from raypachy.pfs.model import Commit
from raypachy.pps.cron import parse_schedule, parse_tick_name, tick_due, tick_name
from raypachy.pps.datums import cron_as_pfs
from raypachy.pps.service import PPS
from raypachy.pps.spec import CronInput, parse_spec

TICK_DESCRIPTION = "cron tick "


def _last_tick(pps: PPS, repo: str) -> float | None:
    """The time of the tick repo's newest tick (its head commit), if any."""
    with pps.pfs.meta.read() as tx:
        head = pps._head(tx, repo, "master") if tx.repo(repo) else None
    if head is None:
        return None
    if head.description.startswith(TICK_DESCRIPTION):
        named = parse_tick_name(head.description.removeprefix(TICK_DESCRIPTION))
        if named is not None:
            return named
    return head.finished or head.started  # a commit someone else made: its time


def _write_tick(pps: PPS, repo: str, cron: CronInput, at: float) -> Commit:
    name = tick_name(at)
    with pps.pfs.meta.read() as tx:
        row = tx.branch(repo, "master") if tx.repo(repo) else None
        head = tx.commit(repo, row.head) if row and row.head else None
    if head is not None and head.is_open and head.description.startswith(TICK_DESCRIPTION):
        # a tick cut short (the control plane died while writing it): close it, empty-handed
        pps.pfs.finish_commit(f"{repo}@{head.id}", error="the tick was interrupted")
    commit = pps.pfs.start_commit(f"{repo}@master", description=TICK_DESCRIPTION + name)
    try:
        with pps.pfs.modify(f"{repo}@{commit.id}") as m:
            if cron.overwrite:  # only the latest tick stays: one datum, run on every tick
                for old in pps.pfs.list_files(f"{repo}@{commit.id}"):
                    m.delete(old.path)
            m.put(f"/{name}", b"")
    except BaseException:
        pps.pfs.finish_commit(f"{repo}@{commit.id}", error="the tick could not be written")
        raise
    done = pps.pfs.finish_commit(f"{repo}@{commit.id}")
    pps.on_commit(done)
    return done


def tick_cron(pps: PPS, pipeline: str, now: float | None = None) -> float | None:
    """Write the ticks due now for a running pipeline's cron inputs; return when the next
    one is due (None: the pipeline has no cron input)."""
    now = time.time() if now is None else now
    with pps.pfs.meta.read() as tx:
        row = tx.pipeline(pipeline)
    if row is None:
        return None
    crons = [leaf for leaf in parse_spec(row.spec).input.leaves() if isinstance(leaf, CronInput)]
    if not crons:
        return None
    soonest = None
    for cron in crons:
        schedule = parse_schedule(cron.spec)
        repo = cron_as_pfs(cron, pipeline).repo
        start = parse_tick_name(cron.start) if cron.start else None
        last = _last_tick(pps, repo) or start or row.created
        if row.state == "running":
            due = tick_due(schedule, last, now)
            if due is not None:
                _write_tick(pps, repo, cron, due)
                last = due
        following = schedule.next_after(last)
        soonest = following if soonest is None else min(soonest, following)
    return soonest


def run_cron(pps: PPS, pipeline: str, now: float | None = None) -> list[Commit]:
    """Tick every cron input of ``pipeline`` now, whatever its schedule (``pachctl run
    cron``): one commit per cron input, so one job; the schedule goes on from this tick."""
    now = time.time() if now is None else now
    with pps.pfs.meta.read() as tx:
        row = tx.pipeline(pipeline)
    if row is None:
        raise PipelineNotFoundError(f"pipeline {pipeline} not found")
    crons = [leaf for leaf in parse_spec(row.spec).input.leaves() if isinstance(leaf, CronInput)]
    if not crons:
        raise InvalidArgumentError(
            f"pipeline {pipeline} has no cron input: run cron ticks cron pipelines only "
            "(put a file in its input repo to run it)"
        )
    return [_write_tick(pps, cron_as_pfs(cron, pipeline).repo, cron, now) for cron in crons]
