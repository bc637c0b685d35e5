"""Repos that pipelines use: deleting them, writing to outputs, and datum records (as in
Pachyderm: only a pipeline's jobs change its output repo)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import raypachy
from raypachy.client import Client
from raypachy.errors import ConflictError
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.pps.conftest import Local


@raypachy.pipeline(input=raypachy.pfs("raw", glob="/*"), name="p")
def copy(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_bytes(f.read_bytes())


def _client(local: Local) -> Client:
    api = TestClient(create_app(LocalService(local.pachd), local.pfs.backend.uri),
                     base_url="http://127.0.0.1", raise_server_exceptions=False)  # fmt: skip
    client = Client("http://testserver")
    client._transport.http = api  # the real client code over the in-process app
    return client


def _ready(local: Local) -> None:
    local.pfs.create_repo("raw")
    local.put("raw", {"/a": b"1"})
    local.create(copy)
    local.run()


def test_deleting_a_repo_in_use_is_refused_naming_the_pipeline(local: Local) -> None:
    _ready(local)
    client = _client(local)
    with pytest.raises(ConflictError, match="pipeline p reads it; delete the pipeline"):
        client.delete_repo("raw")
    with pytest.raises(ConflictError, match="pipeline p writes it"):
        client.delete_repo("p")
    assert {r.name for r in client.list_repos()} == {"raw", "p"}
    local.pfs.create_repo("unused")
    assert client.delete_repo("unused") == []


def test_force_deletes_says_what_breaks_and_the_jobs_fail_with_the_reason(local: Local) -> None:
    _ready(local)
    waiting = local.put("raw", {"/b": b"2"})  # a job waits for the controller
    client = _client(local)
    warnings = client.delete_repo("raw", force=True)
    assert warnings == ["pipeline p reads it: its next jobs fail until the repo exists again"]
    assert local.run() == []  # the waiting job is not run, and not claimed again and again
    failed = local.pps.inspect_job("p", waiting)
    assert failed.state == "failure" and "input repo raw was deleted" in failed.reason
    assert client.delete_repo("p", force=True) == [
        "pipeline p writes it (its output repo): its next jobs fail until the repo exists again"
    ]
    local.pps.delete_pipeline("p")  # a pipeline whose repos are gone can still be deleted
    assert client.list_repos() == []


def test_users_cannot_change_an_output_repo(local: Local) -> None:
    _ready(local)
    head = local.pfs.inspect_commit("p@master")
    with pytest.raises(ConflictError, match="output of pipeline p and only its jobs change it"):
        local.pfs.delete_file("p@master", "/a")
    with pytest.raises(ConflictError, match="only its jobs"):
        local.pfs.put_file("p@master", "/x", b"x")
    with pytest.raises(ConflictError, match="only its jobs"):
        local.pfs.start_commit("p@master")
    with pytest.raises(ConflictError, match="output commit of pipeline p"):
        local.pachd.delete_commit(f"p@{head.id}")
    with pytest.raises(ConflictError, match="output commit of pipeline p"):
        local.pfs.delete_commit(head.id)  # the library alone cannot keep the records in step
    client = _client(local)
    with pytest.raises(ConflictError, match="only its jobs"):
        client.put_file("p@master", "/x", b"x")  # the data plane through the API
    assert local.files("p") == {"/a": b"1"}
    # the pipeline's own jobs still write it
    local.put("raw", {"/b": b"2"})
    local.run()
    assert local.files("p") == {"/a": b"1", "/b": b"2"}


def test_deleting_a_whole_commit_set_resets_the_datum_records(local: Local) -> None:
    _ready(local)
    latest = local.put("raw", {"/b": b"2"})
    local.run()
    # delete the change everywhere: raw goes back, and so does p, with its records
    assert sorted(local.pachd.delete_commit(latest)) == [f"p@{latest}", f"raw@{latest}"]
    assert local.files("p") == {"/a": b"1"} and local.pps.list_jobs("p", latest) == []
    local.put("raw", {"/b": b"2", "/c": b"3"})
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (2, 1)
    assert local.files("p") == {"/a": b"1", "/b": b"2", "/c": b"3"}


def test_fsck_reports_datum_records_whose_outputs_are_gone(local: Local) -> None:
    _ready(local)
    local.put("raw", {"/b": b"2"})
    local.run()
    assert local.pachd.fsck().problems == ()
    # what an older version allowed: a user deleting an output file behind the pipeline's back
    local.pfs.set_repo_writer("p", None)
    local.pfs.delete_file("p@master", "/a")
    local.pfs.set_repo_writer("p", "pipeline p")
    [problem] = local.pachd.fsck().problems
    assert problem.kind == "datum" and "its output /a is not in p@" in problem.message
    [fixed] = local.pachd.fsck(fix=True).problems
    assert fixed.fixed and local.pachd.fsck().problems == ()
    local.put("raw", {"/c": b"3"})
    local.run()
    assert local.files("p") == {"/a": b"1", "/b": b"2", "/c": b"3"}  # /a came back
