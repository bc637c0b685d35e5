"""Pachyderm semantics that used to be promised and not kept: branch moves, start pipeline,
union names, empty branches, jobs without datums."""

from __future__ import annotations

import raypachy
from tests.pps.conftest import Local


@raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"))
def double(datum):  # type: ignore[no-untyped-def]
    for f in sorted(datum.input().rglob("*")):
        if f.is_file():
            (datum.out / f.name).write_text(str(2 * int(f.read_text())))


@raypachy.pipeline(
    input=raypachy.union(
        raypachy.pfs("left", glob="/*", name="in"), raypachy.pfs("right", glob="/*", name="in")
    ),
    name="both",
)
def both(datum):  # type: ignore[no-untyped-def]
    for f in datum.inputs["in"].rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_bytes(f.read_bytes())


def test_moving_a_branch_head_runs_a_job_on_the_new_head(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(double)
    local.run()
    local.put("nums", {"/b": b"2"})
    local.run()
    assert local.files("double") == {"/a": b"2", "/b": b"4"}
    old = local.pfs.inspect_commit("nums@master^")
    local.ops.create_branch("nums", "master", "master^")  # a rollback
    [job] = local.run()
    assert job.state == "success" and [i.id for i in job.inputs] == [old.id]
    assert local.files("double") == {"/a": b"2"}  # the output follows the input
    # a "move" to where the branch already is runs nothing
    local.ops.create_branch("nums", "master", old.id)
    assert local.run() == []
    # a new branch that no pipeline reads runs nothing either
    local.ops.create_branch("nums", "dev", None)
    assert local.run() == []


def test_start_pipeline_catches_up_with_commits_made_while_stopped(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(double)
    local.run()
    local.ops.stop_pipeline("double")
    local.put("nums", {"/b": b"2"})
    assert local.run() == []  # stopped: nothing runs
    local.ops.start_pipeline("double")
    [job] = local.run()
    assert job.state == "success" and job.datums.processed == 1 and job.datums.skipped == 1
    assert local.files("double") == {"/a": b"2", "/b": b"4"}
    # stopping and starting again with nothing new makes no job
    local.ops.stop_pipeline("double")
    local.ops.start_pipeline("double")
    assert local.run() == []


def test_union_inputs_sharing_a_name_read_both_repos(local: Local) -> None:
    local.pfs.create_repo("left")
    local.pfs.create_repo("right")
    local.put("left", {"/l1": b"L"})
    local.put("right", {"/r1": b"R", "/r2": b"RR"})
    local.create(both)
    [job] = local.run()
    assert job.state == "success" and job.datums.total == 3
    assert {c.repo for c in job.inputs} == {"left", "right"}
    assert local.files("both") == {"/l1": b"L", "/r1": b"R", "/r2": b"RR"}
    local.put("right", {"/r3": b"RRR"})
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (1, 3)


def test_a_pipeline_on_a_new_empty_branch_says_why_it_has_no_datums(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.ops.create_branch("nums", "master", None)  # an empty head commit, as in Pachyderm
    assert local.ops.glob_files("nums@master", "/*") == []
    local.create(double)
    [job] = local.run()
    assert job.state == "success" and job.datums.total == 0
    assert "the glob /* matched nothing in nums@" in job.reason
