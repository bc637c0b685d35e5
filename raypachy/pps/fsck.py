"""Checking pipelines' records against PFS: ended jobs' output commits, and datum records.

An ended job's output commit must be finished (``fix`` finishes it with an error). A datum
recorded as done must still have its outputs on the output branch, or the next job would
skip it and the outputs would never come back (``fix`` forgets the record: it runs again).
"""

from __future__ import annotations

from collections.abc import Callable

from raypachy.pfs.metadata import JobId
from raypachy.pfs.model import Problem
from raypachy.pfs.service import PFS
from raypachy.pps.model import JobState
from raypachy.pps.spec import parse_spec

#: Finishes a dead job's output commit with an error: (pipeline, job, error).
CloseOutput = Callable[[str, JobId, str], None]


def check(pfs: PFS, close_output: CloseOutput, fix: bool = False) -> list[Problem]:
    return _open_outputs(pfs, close_output, fix) + _diverged_datums(pfs, fix)


def _open_outputs(pfs: PFS, close_output: CloseOutput, fix: bool) -> list[Problem]:
    problems = []
    with pfs.meta.read() as tx:
        jobs = tx.jobs()
        outs = {(j.pipeline, j.id): tx.commit(j.output_repo, j.id) for j in jobs}
    for job in jobs:
        out = outs[(job.pipeline, job.id)]
        if JobState(job.state).terminal and out is not None and out.is_open:
            if fix:
                close_output(job.pipeline, job.id, f"job ended: {job.state}")
            message = f"job is {job.state} but its output commit is open"
            problems.append(Problem("job", f"{job.pipeline}@{job.id}", message, fixed=fix))
    return problems


def _diverged_datums(pfs: PFS, fix: bool) -> list[Problem]:
    problems = []
    with pfs.meta.read() as tx:
        heads = {}
        for row in tx.pipelines():
            branch = tx.branch(row.name, parse_spec(row.spec).output_branch)
            rec = tx.commit(row.name, branch.head) if branch and branch.head else None
            heads[row.name] = (rec, tx.datum_states(row.name))
    for pipeline, (rec, states) in heads.items():
        tree = pfs.commits.tree(rec.layers + rec.staged) if rec is not None else None
        gone = {
            s.id: missing for s in states
            if (missing := [p for p in s.outputs if tree is None or tree.lookup(p) is None])
        }  # fmt: skip
        if gone and fix:
            with pfs.meta.write() as tx:
                tx.replace_datum_states(pipeline, sorted(gone), ())
        for datum, missing in sorted(gone.items()):
            where = f"{pipeline}@{rec.id}" if rec is not None else f"{pipeline} (no commit)"
            message = f"datum is recorded as done but its output {missing[0]} is not in {where}" + (
                "; it runs again in the next job" if fix else "; fsck --fix makes it rerun"
            )
            problems.append(Problem("datum", f"{pipeline}/{datum}", message, fixed=fix))
    return problems
