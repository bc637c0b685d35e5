"""Pachyderm semantics that used to be promised and not kept: branch moves, start pipeline,
union names, empty branches, jobs without datums."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    local.pachd.create_branch("nums", "master", "master^")  # a rollback
    [job] = local.run()
    assert job.state == "success" and [i.id for i in job.inputs] == [old.id]
    assert local.files("double") == {"/a": b"2"}  # the output follows the input
    # a "move" to where the branch already is runs nothing
    local.pachd.create_branch("nums", "master", old.id)
    assert local.run() == []
    # a new branch that no pipeline reads runs nothing either
    local.pachd.create_branch("nums", "dev", None)
    assert local.run() == []


def test_start_pipeline_catches_up_with_commits_made_while_stopped(local: Local) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(double)
    local.run()
    local.pachd.stop_pipeline("double")
    local.put("nums", {"/b": b"2"})
    assert local.run() == []  # stopped: nothing runs
    local.pachd.start_pipeline("double")
    [job] = local.run()
    assert job.state == "success" and job.datums.processed == 1 and job.datums.skipped == 1
    assert local.files("double") == {"/a": b"2", "/b": b"4"}
    # stopping and starting again with nothing new makes no job
    local.pachd.stop_pipeline("double")
    local.pachd.start_pipeline("double")
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
    local.pachd.create_branch("nums", "master", None)  # an empty head commit, as in Pachyderm
    assert local.pachd.glob_files("nums@master", "/*") == []
    local.create(double)
    [job] = local.run()
    assert job.state == "success" and job.datums.total == 0
    assert "the glob /* matched nothing in nums@" in job.reason


def test_restart_datum_of_a_running_job_asks_its_controller_once(local: Local) -> None:
    from raypachy.errors import ConflictError, InvalidArgumentError
    from raypachy.pps.datums import plan
    from raypachy.pps.queries import datum_matches, restart_datum
    from raypachy.pps.spec import Input

    local.pfs.create_repo("nums")
    job_id = local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(double)
    claim = local.pps.claim_job("double")  # the controller has the job: it is running
    assert claim is not None and claim.job != job_id  # created with the pipeline
    running = claim.job
    assert restart_datum(local.pps, "double", running, "/a").id == running  # the same job
    with pytest.raises(InvalidArgumentError, match="names no datum"):
        restart_datum(local.pps, "double", running, "a")
    assert local.pps.take_datum_restarts("double", running) == ["/a"]
    assert local.pps.take_datum_restarts("double", running) == []  # handed out once
    # which datum "/a" names, as the controller matches it
    files = {"nums": [(p, d) for p, d in local.pfs.walk_files("nums@master")]}
    inp = Input.model_validate({"pfs": {"repo": "nums", "glob": "/*"}})
    a, b = plan(inp, {"nums": job_id}, lambda repo, _: files[repo], "")
    assert datum_matches(a, "/a") and datum_matches(a, a.id) and not datum_matches(b, "/a")
    assert not datum_matches(a, "/a,/b")
    # a datum whose batch already finished in the job is not restarted
    local.pps.checkpoint_batch("double", running, None, [[a.id, a.hash, "success", [], 1, "", 0.1]])
    with pytest.raises(ConflictError, match="already finished"):
        restart_datum(local.pps, "double", running, a.id)


def test_restart_datum_of_an_ended_job_runs_its_failed_datums_in_a_new_job(
    local: Local, tmp_path: Path
) -> None:
    from raypachy.pps import queries

    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="picky", datum_tries=1)
    def picky(datum):  # type: ignore[no-untyped-def]
        for f in datum.input().rglob("*"):
            if f.is_file() and f.read_text() == "bad" and not flag.exists():
                raise ValueError("bad input")
            if f.is_file():
                (datum.out / f.name).write_text("ok")

    flag = tmp_path / "fixed"
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"good", "/b": b"bad"})
    local.create(picky)
    [job] = local.run()
    assert job.state == "failure"
    failed = next(d for d in queries.list_datums(local.pps, "picky", job.id) if d.state == "failed")
    flag.touch()  # the cause is fixed
    again = queries.restart_datum(local.pps, "picky", job.id, failed.id)
    assert again.id != job.id
    [rerun] = local.run()
    assert rerun.id == again.id and rerun.state == "success"
    assert (rerun.datums.processed, rerun.datums.skipped) == (1, 1)
