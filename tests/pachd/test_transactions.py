"""Transactions against both implementations: ``Pachd`` in this process (recording with
``record_in_transaction``, as the API server does) and ``Client`` over HTTP to a real
uvicorn server (recording with the transaction header, ``client.transaction()``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from raypachy import errors
from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs.model import Trigger
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve


class Recorder:
    """What a client of pachd does while a transaction is active: the transactional verbs
    are recorded (through ``record_in_transaction``), the others run."""

    def __init__(self, pachd: Pachd, txn_id: str) -> None:
        self.pachd, self.txn_id = pachd, txn_id

    def __getattr__(self, verb: str) -> Any:
        from raypachy.pfs.transactions import RECORDED

        if verb not in RECORDED:
            return getattr(self.pachd, verb)
        return lambda **args: self.pachd.record_in_transaction(self.txn_id, verb, args)


@dataclass
class Setup:
    api: Any  # Pachd or Client
    backend: Pachd
    kind: str

    @contextmanager
    def recording(self) -> Iterator[tuple[Any, str]]:
        """An API whose transactional verbs go into a new transaction, and its id; the
        transaction is left to the test to finish."""
        txn = self.api.start_transaction()
        if self.kind == "pachd":
            yield Recorder(self.backend, txn.id), txn.id
            return
        self.api.use_transaction(txn.id)
        try:
            yield self.api, txn.id
        finally:
            self.api.use_transaction(None)


@pytest.fixture(params=["pachd", "client"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    pachd = Pachd.open(str(tmp_path / "home"))
    if request.param == "pachd":
        yield Setup(pachd, pachd, "pachd")
        return
    token = secrets.token_hex(16)
    app = create_app(LocalService(pachd), pachd.pfs.backend.uri, token_hash(token))
    with serve(app) as url, Client(url, token=token) as client:
        yield Setup(client, pachd, "client")


def _cross(name: str) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": {"cross": [{"pfs": {"repo": "a", "glob": "/*"}},
                            {"pfs": {"repo": "b", "glob": "/*"}}]},
        "transform": {"cmd": ["sh", "-c",
                              'cat /pfs/a/* /pfs/b/* > "/pfs/out/$(ls /pfs/a)-$(ls /pfs/b)"']},
    }  # fmt: skip


def test_commits_of_one_transaction_make_one_job_that_sees_both(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    api.create_repo("a")
    api.create_repo("b")
    api.put_file("a@master", "/x", b"a1")
    api.put_file("b@master", "/y", b"b1")
    api.put_pipeline(_cross("cr"))
    assert len(backend.run_jobs()) == 1
    with setup.recording() as (rec, txn_id):
        ca = rec.start_commit(target="a@master")
        cb = rec.start_commit(target="b@master")
        assert ca.id == cb.id == txn_id  # known at once: files can go in after finish
        with pytest.raises(errors.CommitNotFoundError):  # recorded, not applied
            api.inspect_commit(f"a@{txn_id}")
    assert [o.verb for o in api.inspect_transaction(txn_id).ops] == ["start_commit"] * 2
    done = api.finish_transaction(txn_id)
    assert len(done.ops) == 2 and api.list_transactions() == []
    assert (
        api.inspect_commit("a@master").id == txn_id
        and api.inspect_commit("b@master").finished is None
    )
    api.put_file(f"a@{txn_id}", "/x2", b"a2")
    api.finish_commit(f"a@{txn_id}")
    assert backend.run_jobs() == []  # the job waits for the other commit of the transaction
    api.put_file(f"b@{txn_id}", "/y2", b"b2")
    api.finish_commit(f"b@{txn_id}")
    [job] = backend.run_jobs()
    assert (job.id, job.state, job.datums.total) == (txn_id, "success", 4)
    assert len(api.list_jobs("cr")) == 2  # the first, and exactly one for the transaction
    assert api.get_file("cr@master", "/x2-y2") == b"a2b2"
    assert {(c.repo, c.id) for c in api.commit_set(txn_id)} >= {("a", txn_id), ("b", txn_id)}


def test_an_operation_that_fails_at_finish_applies_nothing(setup: Setup) -> None:
    api = setup.api
    api.create_repo("a")
    api.create_repo("b")
    api.put_file("a@master", "/x", b"1")
    api.put_file("b@master", "/y", b"1")
    api.put_pipeline(_cross("cr"))
    head = api.inspect_commit("a@master").id
    with setup.recording() as (rec, txn_id):
        rec.start_commit(target="a@master")
        rec.create_branch(repo="a", name="staging", head="master")
        rec.delete_branch(repo="b", name="master")
        rec.put_pipeline(pipeline=_cross("cr"))  # exists already: refused when applied
    with pytest.raises(errors.PipelineExistsError) as e:
        api.finish_transaction(txn_id)
    assert "\n" not in e.value.message
    assert f"transaction {txn_id}: operation 4 (create pipeline cr)" in e.value.message
    assert "nothing of the transaction was applied" in e.value.message
    assert api.inspect_commit("a@master").id == head
    assert [b.name for b in api.list_branches("a")] == ["master"]
    assert [b.name for b in api.list_branches("b")] == ["master"]
    assert [t.id for t in api.list_transactions()] == [txn_id]  # kept: delete or fix it
    api.delete_transaction(txn_id)
    assert api.list_transactions() == []
    with pytest.raises(errors.TransactionNotFoundError, match="not found"):
        api.finish_transaction(txn_id)


def test_branches_and_pipelines_wait_for_finish(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    api.create_repo("a")
    api.create_repo("b")
    api.put_file("a@master", "/x", b"1")
    api.put_file("b@master", "/y", b"2")
    api.create_branch("b", "follows", "master", trigger=Trigger("master", commits=5))
    every_two = Trigger("master", size="1K", commits=2)
    with setup.recording() as (rec, txn_id):
        rec.create_branch(repo="a", name="v1", head="master")
        rec.create_branch(repo="a", name="batched", head="master", trigger=every_two)
        rec.create_branch(repo="b", name="follows", trigger=None)
        created = rec.put_pipeline(pipeline=_cross("cr"))
        assert created.pipeline.name == "cr" and "transaction" in created.note
        assert [b.name for b in api.list_branches("a")] == ["master"]
        assert api.list_pipelines() == []
    assert api.inspect_branch("b", "follows").trigger == Trigger("master", commits=5)
    api.finish_transaction(txn_id)
    assert [b.name for b in api.list_branches("a")] == ["batched", "master", "v1"]
    assert api.inspect_branch("a", "batched").trigger == every_two  # kept through the record
    assert api.inspect_branch("b", "follows").trigger is None  # a recorded drop, applied
    assert [p.name for p in api.list_pipelines()] == ["cr"]
    [job] = backend.run_jobs()
    assert job.state == "success" and api.get_file("cr@master", "/x-y") == b"12"


def test_bad_transactions_are_refused_in_one_line(setup: Setup) -> None:
    api = setup.api
    api.create_repo("a")
    with pytest.raises(errors.TransactionNotFoundError):
        api.finish_transaction("f" * 32)
    with pytest.raises(errors.TransactionNotFoundError):
        api.inspect_transaction("f" * 32)
    with pytest.raises(errors.InvalidArgumentError, match="32 hex"):
        api.delete_transaction("nope")
    with setup.recording() as (rec, txn_id):
        rec.start_commit(target="a@master")
        with pytest.raises(errors.InvalidArgumentError, match="one commit per repo"):
            rec.start_commit(target="a@dev")
        with pytest.raises(errors.RepoNotFoundError):
            rec.start_commit(target="nothere@master")
    assert len(api.inspect_transaction(txn_id).ops) == 1  # what was refused is not recorded
    api.finish_transaction(txn_id)
    with pytest.raises(errors.TransactionNotFoundError):  # finished already
        api.finish_transaction(txn_id)
    with setup.recording() as (rec, _):
        api.delete_transaction(_)
        with pytest.raises(errors.TransactionNotFoundError):  # recording into a deleted one
            rec.create_branch(repo="a", name="x")


@pytest.mark.parametrize("setup", ["client"], indirect=True)
def test_client_transaction_block(setup: Setup) -> None:
    api = setup.api
    api.create_repo("a")
    with api.transaction() as txn:
        commit = api.start_commit("a@master")
        assert api.list_commits("a") == []
    assert commit.id == txn.id and api.inspect_commit("a@master").id == txn.id
    with pytest.raises(ValueError), api.transaction() as txn:
        api.create_branch("a", "v2")
        raise ValueError("the block fails")
    assert api.list_transactions() == [] and api.active_transaction is None
    assert [b.name for b in api.list_branches("a")] == ["master"]


def test_commits_of_one_transaction_on_a_join_make_one_job(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    api.create_repo("a")
    api.create_repo("b")
    api.put_file("a@master", "/k1", b"a")
    api.put_file("b@master", "/k1", b"b")
    api.put_pipeline({
        "pipeline": {"name": "jn"},
        "input": {"join": [{"pfs": {"repo": "a", "glob": "/(*)", "join_on": "$1"}},
                           {"pfs": {"repo": "b", "glob": "/(*)", "join_on": "$1"}}]},
        "transform": {"cmd": ["sh", "-c", 'cat /pfs/a/* /pfs/b/* > "/pfs/out/$(ls /pfs/a)"']},
    })  # fmt: skip
    assert len(backend.run_jobs()) == 1
    with setup.recording() as (rec, txn_id):
        rec.start_commit(target="a@master")
        rec.start_commit(target="b@master")
    api.finish_transaction(txn_id)
    for repo, data in (("b", b"B"), ("a", b"A")):  # either order: the job waits for both
        api.put_file(f"{repo}@{txn_id}", "/k2", data)
        api.finish_commit(f"{repo}@{txn_id}")
        if repo == "b":
            assert backend.run_jobs() == []
    [job] = backend.run_jobs()
    assert (job.id, job.state, job.datums.total) == (txn_id, "success", 2)
    assert api.get_file("jn@master", "/k2") == b"AB"
    assert len(api.list_jobs("jn")) == 2
