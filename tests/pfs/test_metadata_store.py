"""The metadata store's contract, run against every implementation: SQLite, and PostgreSQL
(a real server, a fresh database per test).

Each test talks to the store only through ``raypachy.pfs.metadata.interface``; a second
implementation joins by adding one parameter to ``backend``. ``backend.open()`` gives another
client of the same database (another process's view), for compare-and-swap and change waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from raypachy.pfs.metadata import (
    BranchRecord,
    CheckpointDatum,
    CheckpointRecord,
    CommitId,
    CommitRecord,
    DatumCounts,
    DatumId,
    DatumInputRecord,
    DatumRecord,
    DatumStateRecord,
    JobInput,
    JobRecord,
    LeaseRecord,
    LockRecord,
    MetadataStore,
    PipelineRecord,
    PipelineVersion,
    RepoRecord,
    as_job_id,
    open_store,
)
from raypachy.pfs.model import CommitRef
from raypachy.storage.manifest import ManifestInfo


@dataclass(frozen=True)
class Backend:
    open: Callable[[], MetadataStore]  # one more client of the same (empty at first) database


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = str(tmp_path / "metadata.db")
        return Backend(lambda: open_store(path))
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        request.getfixturevalue("pg_stores")  # closes them before the database goes
        return Backend(lambda: open_store(url))
    raise AssertionError(f"no store {request.param}")


@pytest.fixture
def store(backend: Backend) -> MetadataStore:
    return backend.open()


def cid(n: int) -> CommitId:
    return CommitId(f"{n:032x}")


def commit(
    repo: str,
    n: int,
    parent: int | None = None,
    started: float = 1.0,
    finished: float | None = 2.0,
    provenance: tuple[CommitRef, ...] = (),
    staged: tuple[ManifestInfo, ...] = (),
) -> CommitRecord:
    return CommitRecord(
        repo, cid(n), "master", None if parent is None else cid(parent), "user", f"c{n}",
        started, finished, None, 10 * n, n, (ManifestInfo(f"m{n}", n),), staged, provenance,
    )  # fmt: skip


def job(pipeline: str, n: int, state: str = "created", created: float = 1.0) -> JobRecord:
    inputs = (JobInput("in", "raw", "master", cid(n)), JobInput("b", "other", "dev", cid(99)))
    return JobRecord(pipeline, as_job_id(cid(n)), PipelineVersion("v1"), state, "", inputs,
                     pipeline, created)  # fmt: skip


def with_repos(store: MetadataStore, *names: str) -> None:
    with store.write() as tx:
        for name in names:
            tx.insert_repo(RepoRecord(name, 1.0, f"repo {name}"))


# --- repos and branches ------------------------------------------------------------------


def test_repos_round_trip_and_delete_takes_everything_of_the_repo(store: MetadataStore) -> None:
    with_repos(store, "b", "a")
    with store.write() as tx:
        tx.update_repo("a", "new words")
        tx.set_repo_writer("a", "pipeline a")
        tx.insert_branch(BranchRecord("a", "master", cid(1), 3.0))
        tx.insert_commit(commit("a", 1, provenance=(CommitRef("b", cid(5)),)))
    with store.read() as tx:
        assert tx.repos() == [RepoRecord("a", 1.0, "new words"), RepoRecord("b", 1.0, "repo b")]
        assert tx.repo("a") == RepoRecord("a", 1.0, "new words") and tx.repo("zz") is None
        assert tx.repo_writer("a") == "pipeline a" and tx.repo_writer("b") is None
        assert tx.subvenance("b", cid(5)) == [CommitRef("a", cid(1))]
    with store.write() as tx:
        tx.delete_repo("a")
    with store.read() as tx:
        assert [r.name for r in tx.repos()] == ["b"]
        assert tx.branch("a", "master") is None and tx.commit("a", cid(1)) is None
        assert tx.repo_writer("a") is None and tx.subvenance("b", cid(5)) == []
    with store.write() as tx:
        tx.set_repo_writer("b", "pipeline b")
        tx.set_repo_writer("b", None)
    with store.read() as tx:
        assert tx.repo_writer("b") is None


def test_object_metadata_round_trips_and_goes_with_its_object(store: MetadataStore) -> None:
    with_repos(store, "a", "b")
    with store.write() as tx:
        tx.insert_branch(BranchRecord("a", "dev", cid(1), 3.0))
        tx.insert_commit(commit("a", 1))
        tx.set_object_metadata("repo", "a", "", {"team": "vision"})
        tx.set_object_metadata("branch", "a", "dev", {"k": "v"})
        tx.set_object_metadata("trigger", "a", "dev", {"branch": "staging", "commits": 2})
        tx.set_object_metadata("commit", "a", cid(1), {"run": "1", "é": "ü"})
        tx.set_object_metadata("commit", "b", cid(1), {"other": "repo"})
    with store.read() as tx:
        assert tx.object_metadata("repo", "a", "") == {"team": "vision"}
        assert tx.object_metadata("trigger", "a", "dev") == {"branch": "staging", "commits": 2}
        assert tx.objects_metadata("commit", "a") == {cid(1): {"run": "1", "é": "ü"}}
        assert tx.object_metadata("branch", "a", "master") is None
    with store.write() as tx:
        tx.set_object_metadata("repo", "a", "", None)
        tx.delete_branch("a", "dev")
        tx.delete_commit("a", cid(1))
    with store.read() as tx:
        assert tx.object_metadata("repo", "a", "") is None
        assert tx.object_metadata("branch", "a", "dev") is None
        assert tx.object_metadata("trigger", "a", "dev") is None
        assert tx.objects_metadata("commit", "a") == {}
    with store.write() as tx:
        tx.set_object_metadata("repo", "b", "", {"x": "y"})
        tx.delete_repo("b")
    with store.read() as tx:
        assert (
            tx.objects_metadata("commit", "b") == {} and tx.object_metadata("repo", "b", "") is None
        )


def test_branch_moves_are_compare_and_swap(backend: Backend) -> None:
    here, there = backend.open(), backend.open()
    with_repos(here, "r")
    with here.write() as tx:
        tx.insert_branch(BranchRecord("r", "master", None, 5.0))
        tx.insert_branch(BranchRecord("r", "dev", cid(1), 5.0))
        assert not tx.move_branch("r", "master", cid(2), cid(1))  # it has no head yet
        assert tx.move_branch("r", "master", cid(1), None)
    with there.write() as tx:  # another client lost the race: nothing changes
        assert not tx.move_branch("r", "master", cid(3), None)
        assert tx.move_branch("r", "master", cid(2), cid(1))
    with here.read() as tx:
        assert tx.branch("r", "master") == BranchRecord("r", "master", cid(2), 5.0)
        assert [b.name for b in tx.branches("r")] == ["dev", "master"]
        assert tx.branches_at("r", cid(1)) == ["dev"]
    with here.write() as tx:
        assert tx.move_branch("r", "master", None, cid(2))  # back to no head
        tx.delete_branch("r", "dev")
    with there.read() as tx:
        assert tx.branches("r") == [BranchRecord("r", "master", None, 5.0)]


def test_concurrent_writers_never_lose_a_branch_move(backend: Backend) -> None:
    with_repos(backend.open(), "r")
    with backend.open().write() as tx:
        tx.insert_branch(BranchRecord("r", "master", None, 0.0))
    writers, each = 4, 10

    def write(w: int) -> None:
        store = backend.open()  # each thread its own client, as separate processes are
        for i in range(each):
            while True:
                with store.read() as tx:
                    branch = tx.branch("r", "master")
                assert branch is not None
                new = commit("r", 1 + w * each + i)
                new = replace(new, parent=branch.head)
                with store.write() as tx:
                    if tx.move_branch("r", "master", new.id, branch.head):
                        tx.insert_commit(new)
                        break

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    store = backend.open()
    with store.read() as tx:
        branch = tx.branch("r", "master")
        assert branch is not None
        chain, head = [], branch.head
        while head is not None:
            rec = tx.commit("r", head)
            assert rec is not None
            chain.append(rec.id)
            head = rec.parent
    assert len(chain) == writers * each == len(set(chain))  # every commit is on the branch


# --- commits and provenance ----------------------------------------------------------------


def test_commits_round_trip_newest_first_with_paging(store: MetadataStore) -> None:
    with_repos(store, "r", "s")
    recs = [commit("r", 1, started=1.0), commit("r", 2, 1, started=2.0),
            commit("s", 3, started=2.0), commit("r", 4, 2, started=3.0)]  # fmt: skip
    with store.write() as tx:
        for rec in recs:
            tx.insert_commit(rec)
    with store.read() as tx:
        assert tx.commit("r", cid(2)) == recs[1]
        assert tx.commits(repo="r") == [recs[3], recs[1], recs[0]]
        assert [c.id for c in tx.commits()] == [cid(4), cid(3), cid(2), cid(1)]  # ties: newer
        assert tx.commits(commit_id=cid(3)) == [recs[2]]
        position = tx.commit_position("r", cid(4))
        assert position is not None
        assert tx.commits(repo="r", after=position, limit=1) == [recs[1]]
        anywhere = tx.commit_position(None, cid(3))
        assert anywhere is not None and tx.commits(after=anywhere) == [recs[1], recs[0]]
        assert tx.commit_position("s", cid(4)) is None
        assert tx.children("r", cid(1)) == [cid(2)] and tx.children("r", cid(4)) == []
        assert sorted(m.id for m in tx.all_layers()) == ["m1", "m2", "m3", "m4"]
    with store.write() as tx:
        tx.set_parent("r", cid(2), None)
        tx.delete_commit("r", cid(4))
    with store.read() as tx:
        assert tx.children("r", cid(1)) == [] and tx.commit("r", cid(4)) is None


def test_provenance_both_ways(store: MetadataStore) -> None:
    with_repos(store, "raw", "other", "out")
    inputs = (CommitRef("other", cid(2)), CommitRef("raw", cid(1)))
    with store.write() as tx:
        tx.insert_commit(commit("raw", 1))
        tx.insert_commit(commit("other", 2))
        tx.insert_commit(commit("out", 1, provenance=inputs))
    with store.read() as tx:
        out = tx.commit("out", cid(1))
        assert out is not None and out.provenance == inputs  # ordered by repo
        assert tx.subvenance("raw", cid(1)) == [CommitRef("out", cid(1))]
        assert tx.subvenance("out", cid(1)) == []
    with store.write() as tx:
        tx.drop_provenance("out", cid(1), CommitRef("raw", cid(1)))
    with store.read() as tx:
        out = tx.commit("out", cid(1))
        assert out is not None and out.provenance == (CommitRef("other", cid(2)),)
        assert tx.subvenance("raw", cid(1)) == []
    with store.write() as tx:
        tx.delete_commit("out", cid(1))  # its provenance goes with it
    with store.read() as tx:
        assert tx.subvenance("other", cid(2)) == []


def test_an_open_commit_changes_only_by_compare_and_swap(backend: Backend) -> None:
    here, there = backend.open(), backend.open()
    with_repos(here, "r")
    opened = commit("r", 1, finished=None)
    with here.write() as tx:
        tx.insert_commit(opened)
    staged = replace(opened, staged=(ManifestInfo("layer", 3),))
    with here.write() as tx:
        assert tx.update_open_commit(opened, staged)
    with there.write() as tx:  # computed from the row as it was before: refused
        assert not tx.update_open_commit(opened, replace(opened, staged=(ManifestInfo("x", 1),)))
    done = replace(staged, finished=9.0, staged=(), layers=(ManifestInfo("tree", 4),),
                   size_bytes=7, file_count=1, error="bad", description="done")  # fmt: skip
    with there.write() as tx:
        assert tx.update_open_commit(staged, done)
    with here.write() as tx:  # a finished commit never changes
        assert not tx.update_open_commit(done, replace(done, description="again"))
    with here.read() as tx:
        assert tx.commit("r", cid(1)) == done
        assert sorted(m.id for m in tx.all_layers()) == ["tree"]


def test_staged_layers_are_kept_for_gc(store: MetadataStore) -> None:
    with_repos(store, "r")
    with store.write() as tx:
        tx.insert_commit(commit("r", 1, finished=None, staged=(ManifestInfo("s1", 1),)))
    with store.read() as tx:
        assert sorted(m.id for m in tx.all_layers()) == ["m1", "s1"]


# --- leases and locks ------------------------------------------------------------------------


def test_leases_and_locks(store: MetadataStore) -> None:
    with store.write() as tx:
        tx.insert_lease(LeaseRecord("l1", "host", 10, 1.0, 1.0))
        tx.insert_lease(LeaseRecord("l2", "host", 11, 2.0, 2.0, expires=9.0))
        assert tx.heartbeat_lease("l1", 5.0) and not tx.heartbeat_lease("gone", 5.0)
        tx.take_lock(LockRecord("gc", "host", 10, 2.0, 2.0))
    with store.read() as tx:
        assert tx.leases() == [LeaseRecord("l1", "host", 10, 1.0, 5.0),
                               LeaseRecord("l2", "host", 11, 2.0, 2.0, 9.0)]  # fmt: skip
        assert tx.lease("l2") == LeaseRecord("l2", "host", 11, 2.0, 2.0, 9.0)
        assert tx.lease("gone") is None
        assert tx.lock("gc") == LockRecord("gc", "host", 10, 2.0, 2.0) and tx.lock("x") is None
    with store.write() as tx:
        tx.delete_lease("l2")
        assert tx.renew_lock("gc", "host", 10, 2.0, 4.0)
        assert not tx.renew_lock("gc", "host", 10, 1.0, 4.0)  # an older holding, same process
        tx.release_lock("gc", "host", 99, 2.0)  # not its holder: the lock stays
        tx.release_lock("gc", "host", 10, 1.0)
        assert tx.lock("gc") == LockRecord("gc", "host", 10, 2.0, 4.0)
        tx.take_lock(LockRecord("gc", "other", 12, 3.0, 3.0))  # taken over from a dead holder
        assert not tx.renew_lock("gc", "host", 10, 2.0, 5.0)  # the old holder lost it
        tx.release_lock("gc", "host", 10, 2.0)
        assert tx.lock("gc") == LockRecord("gc", "other", 12, 3.0, 3.0)
        tx.release_lock("gc", "other", 12, 3.0)
        tx.take_lock(LockRecord("gc", "third", 13, 6.0, 6.0))
        tx.break_lock("gc")  # whoever holds it
    with store.read() as tx:
        assert tx.lock("gc") is None and [x.id for x in tx.leases()] == ["l1"]


def test_code_pins(store: MetadataStore) -> None:
    with store.write() as tx:
        tx.pin_code("aa", 10.0, 5.0)
        tx.pin_code("bb", 12.0, 5.0)
        tx.pin_code("aa", 13.0, 5.0)  # pinned again: kept longer
    with store.read() as tx:
        assert tx.pinned_code(11.0) == ["aa", "bb"] and tx.pinned_code(12.5) == ["aa"]
    with store.write() as tx:
        tx.pin_code("cc", 20.0, 5.0)  # pins older than 5 s go
    with store.read() as tx:
        assert tx.pinned_code(0.0) == ["cc"]


# --- pipelines, jobs, datums, checkpoints ----------------------------------------------------


def pipeline(name: str, version: str, updated: float) -> PipelineRecord:
    spec = {"pipeline": {"name": name}, "transform": {"cmd": [version]}}
    return PipelineRecord(name, PipelineVersion(version), spec, "running", "salt", 1.0, updated)


def test_pipelines_and_their_versions(store: MetadataStore) -> None:
    with store.write() as tx:
        tx.put_pipeline(pipeline("p", "v1", 1.0))
        tx.put_pipeline(pipeline("q", "v1", 1.0))
        tx.insert_job(job("p", 1))
        tx.put_pipeline(pipeline("p", "v2", 2.0))
        tx.put_pipeline(replace(pipeline("p", "v2", 3.0), state="stopped"))  # same version
        tx.insert_job(replace(job("p", 2), version=PipelineVersion("v2")))
    with store.read() as tx:
        assert tx.pipeline("p") == replace(pipeline("p", "v2", 3.0), state="stopped")
        assert [p.name for p in tx.pipelines()] == ["p", "q"] and tx.pipeline("x") is None
        versions = tx.versions("p")
        assert [(v.version, v.created, v.jobs) for v in versions] == [
            ("v1", 1.0, 1),
            ("v2", 2.0, 1),
        ]
        assert versions[0].spec == pipeline("p", "v1", 1.0).spec
        assert tx.version_spec("p", PipelineVersion("v1")) == pipeline("p", "v1", 1.0).spec
        assert tx.version_spec("p", PipelineVersion("v9")) is None
        assert len(tx.all_version_specs()) == 3
    with store.write() as tx:
        tx.insert_job_datums([datum("p", 1, "d1")])
        tx.add_checkpoint(CheckpointRecord("p", as_job_id(cid(2)), None, ()))
        tx.request_restart("p", as_job_id(cid(2)), "d1", 1.0)
        tx.replace_datum_states("p", [], [DatumStateRecord("p", DatumId("d1"), "h", (), as_job_id(cid(1)))])  # fmt: skip
        tx.delete_pipeline("p")
    with store.read() as tx:
        assert tx.pipeline("p") is None and tx.versions("p") == [] and tx.jobs("p") == []
        assert tx.job_datums("p", as_job_id(cid(1))) == [] and tx.datum_states("p") == []
        assert tx.checkpoints("p", as_job_id(cid(2))) == []
        assert not tx.has_restarts("p", as_job_id(cid(2)))
        assert [p.name for p in tx.pipelines()] == ["q"]


def test_jobs_are_ordered_across_pipelines_and_round_trip(store: MetadataStore) -> None:
    with store.write() as tx:
        first = tx.insert_job(job("p", 1))
        second = tx.insert_job(job("q", 2))
        third = tx.insert_job(job("p", 3, state="running"))
    assert first.seq < second.seq < third.seq
    with store.read() as tx:
        assert tx.job("p", first.id) == first and tx.job("q", first.id) is None
        assert tx.jobs() == [third, second, first]
        assert tx.jobs("p") == [third, first]
        assert tx.jobs(job_id=second.id) == [second]
        assert tx.jobs(before_seq=third.seq, limit=1) == [second]
        assert tx.jobs_in_states("p", ("created", "running")) == [first, third]
        assert tx.jobs_in_states("p", ("success",)) == []
    ended = replace(first, state="success", reason="why", started=2.0, finished=3.0,
                    inputs=first.inputs[:1], counts=DatumCounts(5, 3, 1, 1, 0))  # fmt: skip
    with store.write() as tx:
        tx.update_job(ended)
    with store.read() as tx:
        assert tx.job("p", first.id) == ended


def test_recent_jobs_are_the_newest_plus_the_live_and_just_ended(store: MetadataStore) -> None:
    with store.write() as tx:
        old_live = tx.insert_job(job("p", 1, state="running"))
        old_ended = tx.insert_job(replace(job("p", 2, state="success"), finished=100.0))
        tx.insert_job(replace(job("p", 3, state="success"), finished=1.0))
        newest = [tx.insert_job(replace(job("q", n, state="success"), finished=1.0))
                  for n in (4, 5)]  # fmt: skip
    with store.read() as tx:
        recent = tx.recent_jobs(2, 50.0, ("created", "running"))
    assert recent == [newest[1], newest[0], old_ended, old_live]


def datum(pipeline: str, job_n: int, datum_id: str, state: str = "success") -> DatumRecord:
    inputs = (DatumInputRecord("in", "raw", cid(job_n), f"/{datum_id}"),)
    return DatumRecord(pipeline, as_job_id(cid(job_n)), DatumId(datum_id), state, f"h-{datum_id}",
                       inputs, (f"/out/{datum_id}",), 1, "", 0.5)  # fmt: skip


def test_datums_of_jobs_and_the_pipelines_datum_records(store: MetadataStore) -> None:
    j1, j2 = as_job_id(cid(1)), as_job_id(cid(2))
    with store.write() as tx:
        tx.insert_job(job("p", 1))
        tx.insert_job_datums([datum("p", 1, "b"), datum("p", 1, "a", "failed"),
                              datum("p", 1, "c", "skipped")])  # fmt: skip
        tx.insert_job_datums(replace(d, attempts=3) for d in [datum("p", 1, "b")])  # again
    with store.read() as tx:
        assert [d.id for d in tx.job_datums("p", j1)] == ["a", "b", "c"]
        assert tx.job_datums("p", j1, DatumId("b")) == [replace(datum("p", 1, "b"), attempts=3)]
        assert [d.id for d in tx.job_datums("p", j1, after=DatumId("a"), limit=1)] == ["b"]
        assert tx.job_datums("p", j2) == []
    states = [DatumStateRecord("p", DatumId("x"), "hx", ("/x",), j2),
              DatumStateRecord("p", DatumId("y"), "hy", ("/y", "/z"), j2)]  # fmt: skip
    with store.write() as tx:
        tx.replace_datum_states("p", [], states)
        tx.replace_datum_states("p", [DatumId("x")], [replace(states[1], hash="new")])
    with store.read() as tx:
        assert tx.datum_states("p") == [replace(states[1], hash="new")]
    with store.write() as tx:  # back to what job 1 left: its successful and skipped datums
        tx.reset_datum_states("p", j1, ("success", "skipped"))
    with store.read() as tx:
        kept = tx.datum_states("p")
    assert [(s.id, s.hash, s.outputs, s.job) for s in kept] == [
        ("b", "h-b", ("/out/b",), j1), ("c", "h-c", ("/out/c",), j1)]  # fmt: skip
    with store.write() as tx:
        tx.reset_datum_states("p", None, ("success",))
    with store.read() as tx:
        assert tx.datum_states("p") == []


def test_checkpoints_and_restart_requests(store: MetadataStore) -> None:
    j1 = as_job_id(cid(1))
    done = CheckpointDatum(DatumId("d1"), "h1", "success", ("/o1",), 2, "", 1.5)
    batches = [CheckpointRecord("p", j1, ManifestInfo("layer1", 4), (done,)),
               CheckpointRecord("p", j1, None, ())]  # fmt: skip
    with store.write() as tx:
        tx.insert_job(job("p", 1))
        for b in batches:
            tx.add_checkpoint(b)
        tx.add_checkpoint(CheckpointRecord("q", j1, ManifestInfo("layer2", 1), ()))
        tx.request_restart("p", j1, "/b", 2.0)
        tx.request_restart("p", j1, "d1", 1.0)
    with store.read() as tx:
        assert tx.checkpoints("p", j1) == batches  # oldest first
        assert tx.checkpoint_manifests() == {"layer1", "layer2"}
        assert tx.has_restarts("p", j1) and not tx.has_restarts("q", j1)
    with store.write() as tx:
        assert tx.take_restarts("p", j1) == ["d1", "/b"]  # oldest request first
        assert tx.take_restarts("p", j1) == []  # handed out once
        tx.delete_checkpoints("p", j1)
    with store.read() as tx:
        assert tx.checkpoints("p", j1) == [] and tx.checkpoint_manifests() == {"layer2"}
    with store.write() as tx:
        tx.delete_job("q", j1)  # a job's checkpoints go with it
    with store.read() as tx:
        assert tx.checkpoint_manifests() == set()


# --- transactions and change waits ----------------------------------------------------------


def test_a_failing_transaction_leaves_nothing_behind(store: MetadataStore) -> None:
    with_repos(store, "raw", "p")
    with store.write() as tx:
        tx.insert_branch(BranchRecord("raw", "master", None, 0.0))
        tx.insert_commit(commit("p", 1, finished=None))
        tx.insert_job(job("p", 1, state="running"))
    with store.read() as tx:
        before = (tx.branches("raw"), tx.commits(), tx.jobs(), tx.datum_states("p"))
    version = store.change_version()
    with pytest.raises(RuntimeError, match="midway"), store.write() as tx:
        # a job and its output commit finish together, or not at all
        running = tx.job("p", as_job_id(cid(1)))
        assert running is not None
        tx.update_job(replace(running, state="success", finished=5.0))
        assert tx.update_open_commit(commit("p", 1, finished=None), commit("p", 1))
        tx.replace_datum_states("p", [], [DatumStateRecord("p", DatumId("d"), "h", (), running.id)])  # fmt: skip
        assert tx.move_branch("raw", "master", cid(7), None)
        tx.insert_repo(RepoRecord("new", 1.0, ""))
        raise RuntimeError("midway")
    with store.read() as tx:
        assert (tx.branches("raw"), tx.commits(), tx.jobs(), tx.datum_states("p")) == before
        assert tx.repo("new") is None
    assert store.change_version() == version  # nothing was written: no one is woken


def test_a_read_sees_one_snapshot(backend: Backend) -> None:
    here, there = backend.open(), backend.open()
    with_repos(here, "a")
    with here.read() as tx:
        assert [r.name for r in tx.repos()] == ["a"]
        with_repos(there, "b")  # committed by another client meanwhile
        assert [r.name for r in tx.repos()] == ["a"]
    with here.read() as tx:
        assert [r.name for r in tx.repos()] == ["a", "b"]


def test_writes_of_another_client_wake_a_waiter(backend: Backend) -> None:
    here, there = backend.open(), backend.open()
    since = here.change_version()
    assert here.wait_change(since, 0) == since  # nothing changed: the timeout answers
    with_repos(there, "r")
    assert here.wait_change(since, 20) != since
    mine = here.change_version()
    with_repos(here, "s")  # this client's own writes move its counter at once
    assert here.change_version() != mine


def test_any_text_round_trips(store: MetadataStore) -> None:
    odd = 'a "quoted" \\ back\nslash, é, \u2028 and 🐍'
    j1 = as_job_id(cid(1))
    record = DatumRecord("p", j1, DatumId("d"), "success", "h",
                         (DatumInputRecord(odd, "raw", cid(1), "/" + odd),), (odd, "/x"), 1, odd,
                         0.5)  # fmt: skip
    state = DatumStateRecord("p", DatumId("d"), "h", (odd,), j1)
    with store.write() as tx:
        tx.insert_job_datums([record])
        tx.replace_datum_states("p", [], [state])
    with store.read() as tx:
        assert tx.job_datums("p", j1) == [record] and tx.datum_states("p") == [state]


def test_auth_tokens_role_bindings_and_audit(backend: Backend) -> None:
    from raypachy.pfs.metadata import AuditRecord, RoleBindingRecord, TokenRecord
    from raypachy.secrets import token_ref

    store, other = backend.open(), backend.open()
    with store.read() as tx:
        assert tx.auth_activated() is None and tx.token("h1") is None
    with store.write() as tx:
        tx.activate_auth(100.0)
        tx.insert_token(TokenRecord("h1", "alice", 100.0, 200.0))
        tx.insert_token(TokenRecord("h2", "alice", 101.0, None))
        tx.insert_token(TokenRecord("h3", "bob", 102.0, None))
        for binding in (
            RoleBindingRecord("repo", "raw", "user:alice", "repoReader"),
            RoleBindingRecord("repo", "raw", "user:alice", "repoReader"),  # twice: one row
            RoleBindingRecord("repo", "raw", "user:bob", "repoOwner"),
            RoleBindingRecord("cluster", "", "user:alice", "clusterAdmin"),
        ):
            tx.add_role_binding(binding)
        tx.add_audit(AuditRecord(100.0, "user:root", "create_repo", "raw"))
        tx.add_audit(AuditRecord(150.0, "user:alice", "put_file", "raw@master:/a"))
    with other.read() as tx:  # what one client wrote, another sees
        assert tx.auth_activated() == 100.0
        assert tx.token("h1") == TokenRecord("h1", "alice", 100.0, 200.0)
        assert tx.token_by_ref(token_ref("h2")) == TokenRecord("h2", "alice", 101.0, None)
        assert tx.token_by_ref(token_ref("nope")) is None
        assert [b.principal for b in tx.role_bindings("repo", "raw")] == ["user:alice", "user:bob"]
        assert [(b.kind, b.role) for b in tx.principal_bindings("user:alice")] == [
            ("cluster", "clusterAdmin"), ("repo", "repoReader"),
        ]  # fmt: skip
        assert [a.action for a in tx.audit(0.0, 10)] == ["create_repo", "put_file"]
        assert [a.action for a in tx.audit(120.0, 10)] == ["put_file"]
        assert len(tx.audit(0.0, 1)) == 1
    with other.write() as tx:
        assert tx.delete_token("h3") == 1 and tx.delete_token("h3") == 0
        assert tx.delete_user_tokens("alice") == 2
        alice_reads = RoleBindingRecord("repo", "raw", "user:alice", "repoReader")
        assert tx.remove_role_binding(alice_reads) == 1
        assert tx.remove_role_binding(alice_reads) == 0
        tx.delete_role_bindings("repo", "raw")
    with store.read() as tx:
        assert tx.token("h1") is None and tx.token("h2") is None
        assert tx.role_bindings("repo", "raw") == []
        assert [b.kind for b in tx.principal_bindings("user:alice")] == ["cluster"]
    import sqlite3

    import psycopg

    refused = (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)
    with pytest.raises(refused), store.write() as tx:  # activated once only
        tx.activate_auth(300.0)
    with store.read() as tx:
        assert tx.auth_activated() == 100.0


# --- transactions: recorded operations, and writes that join an outer write -----------------


def test_transactions_are_kept_replaced_and_deleted(backend: Backend) -> None:
    from raypachy.pfs.metadata import TransactionRecord

    store = backend.open()
    first = TransactionRecord("a" * 32, 1.0, ())
    with store.write() as tx:
        tx.put_transaction(first)
        tx.put_transaction(TransactionRecord("b" * 32, 2.0, ({"verb": "x", "args": {"n": 1}},)))
    with store.write() as tx:
        tx.put_transaction(replace(first, ops=({"verb": "start_commit", "args": {"t": "a"}},)))
    with backend.open().read() as tx:
        assert [(t.id, t.ops) for t in tx.transactions()] == [
            ("a" * 32, ({"verb": "start_commit", "args": {"t": "a"}},)),
            ("b" * 32, ({"verb": "x", "args": {"n": 1}},)),
        ]
        assert tx.transaction("c" * 32) is None
    with store.write() as tx:
        assert tx.delete_transaction("a" * 32) == 1
        assert tx.delete_transaction("a" * 32) == 0
    with store.read() as tx:
        assert [t.id for t in tx.transactions()] == ["b" * 32]


def test_a_write_inside_a_write_joins_it_all_or_nothing(backend: Backend) -> None:
    store, other = backend.open(), backend.open()
    with store.write() as tx:
        tx.insert_repo(RepoRecord("kept", 1.0, ""))
    with pytest.raises(RuntimeError), store.write() as outer:
        outer.insert_repo(RepoRecord("one", 1.0, ""))
        with store.write() as inner:  # joins: no second transaction, no deadlock
            inner.insert_repo(RepoRecord("two", 1.0, ""))
        with store.read() as seen:  # a read inside the write sees the write so far
            assert {r.name for r in seen.repos()} == {"kept", "one", "two"}
        with other.read() as elsewhere:  # nobody else sees any of it yet
            assert [r.name for r in elsewhere.repos()] == ["kept"]
        raise RuntimeError("the last operation fails")
    with other.read() as tx:
        assert [r.name for r in tx.repos()] == ["kept"]  # neither write was kept
    with store.write() as outer:
        outer.insert_repo(RepoRecord("one", 1.0, ""))
        with store.write() as inner:
            inner.insert_repo(RepoRecord("two", 1.0, ""))
    with other.read() as tx:
        assert [r.name for r in tx.repos()] == ["kept", "one", "two"]
