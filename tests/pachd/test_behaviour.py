"""One behaviour suite for the API, run against both of its implementations: ``Pachd`` in
this process and ``Client`` over HTTP to a real uvicorn server (with a token) in front of
another ``Pachd``. Whatever a test sees, it must see on both; the last test checks that the
suite asked every verb of ``API`` on each."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import raypachy
from raypachy import errors
from raypachy.client import Client
from raypachy.pachd import API, Pachd
from raypachy.pachd.api import PipelineAPI, VersioningAPI
from raypachy.pfs.model import CommitRef, Trigger, to_json
from raypachy.pps.model import JobState
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve

#: Every verb of the API (the Protocol's public methods).
VERBS = {
    name
    for cls in (VersioningAPI, PipelineAPI, API)
    for name in vars(cls)
    if not name.startswith("_") and callable(vars(cls)[name])
}
ASKED: dict[str, set[str]] = {"pachd": set(), "client": set()}


class Recorded:
    """An API that notes which verbs were asked of it."""

    def __init__(self, api: API, asked: set[str]) -> None:
        self._api, self._asked = api, asked

    def __getattr__(self, name: str) -> Any:
        if name in VERBS:
            self._asked.add(name)
        return getattr(self._api, name)


@dataclass
class Setup:
    api: Any  # a Recorded API
    backend: Pachd  # the Pachd behind it (in this process either way): it runs the jobs
    kind: str


@pytest.fixture(params=["pachd", "client"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    pachd = Pachd.open(str(tmp_path / "home"))
    if request.param == "pachd":
        yield Setup(Recorded(pachd, ASKED["pachd"]), pachd, "pachd")
        return
    token = secrets.token_hex(16)
    app = create_app(LocalService(pachd), pachd.pfs.backend.uri, token_hash(token))
    with serve(app) as url, Client(url, token=token) as client:
        yield Setup(Recorded(client, ASKED["client"]), pachd, "client")


def test_repos(setup: Setup) -> None:
    api = setup.api
    repo = api.create_repo("images", "raw photos")
    assert (repo.name, repo.description, repo.size_bytes) == ("images", "raw photos", 0)
    assert api.create_repo("images", "renamed", update=True).description == "renamed"
    assert api.inspect_repo("images").description == "renamed"
    assert [r.name for r in api.list_repos()] == ["images"]
    with pytest.raises(errors.RepoExistsError):
        api.create_repo("images")
    assert api.delete_repo("images") == []
    with pytest.raises(errors.RepoNotFoundError):
        api.inspect_repo("images")


def test_branches(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    first = api.put_file("r@master", "/a", b"1")
    second = api.put_file("r@master", "/b", b"2")
    dev = api.create_branch("r", "dev", "master^")
    assert dev.head == first.id
    assert api.inspect_branch("r", "dev").head == first.id
    assert [b.name for b in api.list_branches("r")] == ["dev", "master"]
    with pytest.raises(errors.CommitConflictError):  # compare-and-swap lost
        api.create_branch("r", "dev", "master", expected_head=second.id)
    assert api.create_branch("r", "dev", "master", expected_head=first.id).head == second.id
    api.delete_branch("r", "dev")
    with pytest.raises(errors.BranchNotFoundError):
        api.inspect_branch("r", "dev")


def test_commits(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    api.create_repo("s")
    opened = api.start_commit("r@master", description="by hand")
    assert opened.finished is None and opened.description == "by hand"
    api.put_file(f"r@{opened.id}", "/x", b"x")
    done = api.finish_commit(f"r@{opened.id}")
    assert done.finished is not None and done.file_count == 1
    assert api.inspect_commit("r@master").id == opened.id
    with pytest.raises(errors.CommitFinishedError):
        api.finish_commit(f"r@{opened.id}")
    with pytest.raises(errors.InvalidArgumentError):
        api.start_commit("r@master", commit_id="not-an-id")
    linked = api.start_commit(
        "s@master", provenance=[CommitRef("r", opened.id)], commit_id=opened.id
    )
    assert linked.provenance == (CommitRef("r", opened.id),)
    api.finish_commit("s@master")
    assert {c.repo for c in api.commit_set(opened.id)} == {"r", "s"}
    later = api.put_file("r@master", "/y", b"y")
    history = api.list_commits("r", "master")
    assert [c.id for c in history] == [later.id, opened.id]
    assert [c.id for c in api.list_commits("r", "master", limit=1)] == [later.id]
    after = api.list_commits("r", "master", start_after=f"r@{later.id}")
    assert [c.id for c in after] == [opened.id]
    third = api.put_file("r@master", "/z", b"z")
    assert api.squash_commit(f"r@{later.id}") == [f"r@{later.id}"]
    assert api.get_file("r@master", "/y") == b"y"  # the squashed change lives on in its child
    assert api.delete_commit(f"r@{third.id}") == [f"r@{third.id}"]
    assert api.inspect_branch("r", "master").head == opened.id  # later was squashed into third


def test_history_and_metadata(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    first = api.put_file("r@master", "/a", b"1")
    second = api.put_file("r@master", "/b", b"2")
    third = api.put_file("r@master", "/a", b"333")
    api.delete_file("r@master", "/b")
    assert api.inspect_commit("r@master.1").id == first.id  # forward: from the first commit
    assert api.inspect_commit("r@master.2").id == second.id
    assert api.inspect_commit("r@master.3^1").id == second.id
    with pytest.raises(errors.CommitNotFoundError, match="has 4 commit"):
        api.inspect_commit("r@master.5")
    versions = api.file_history("r@master", "/a")
    assert [(f.size_bytes, f.commit.id) for f in versions] == [(3, third.id), (1, first.id)]
    assert [f.commit.id for f in api.file_history("r@master", "/a", 1)] == [third.id]
    assert [(f.path, f.commit.id) for f in api.file_history("r@master", "/", 1)] == [
        ("/a", third.id)
    ]  # /b is gone at the head: a directory lists its entries' versions
    assert [(f.path, f.commit.id) for f in api.file_history(f"r@{second.id}", "/")] == [
        ("/a", first.id), ("/b", second.id)
    ]  # fmt: skip
    with pytest.raises(errors.InvalidArgumentError, match="history"):
        api.file_history("r@master", "/a", 0)
    head = api.inspect_commit("r@master").id
    assert [c.id for c in api.find_commits("r@master", "/b")] == [head, second.id]
    assert [c.id for c in api.find_commits("r@master", "/a")] == [third.id, first.id]
    assert api.find_commits("r@master", "/never") == []

    assert api.edit_metadata("commit", f"r@{first.id}", add={"run": "1", "by": "me"}) == {
        "run": "1", "by": "me",
    }  # fmt: skip
    assert api.edit_metadata("commit", f"r@{first.id}", replace={"run": "2"}, remove=["by"]) == {
        "run": "2"
    }
    with pytest.raises(errors.InvalidArgumentError, match="already has metadata key 'run'"):
        api.edit_metadata("commit", f"r@{first.id}", add={"new": "x", "run": "3"})
    with pytest.raises(errors.InvalidArgumentError, match="no metadata key 'zz'"):
        api.edit_metadata("commit", f"r@{first.id}", remove=["zz"])
    assert api.inspect_commit(f"r@{first.id}").metadata == {"run": "2"}  # nothing half-done
    assert {c.id: c.metadata for c in api.list_commits("r", "master")}[first.id] == {"run": "2"}
    assert api.edit_metadata("repo", "r", add={"team": "vision"}) == {"team": "vision"}
    assert api.inspect_repo("r").metadata == {"team": "vision"}
    assert api.edit_metadata("branch", "r@master", add={"env": "prod"}) == {"env": "prod"}
    assert api.inspect_branch("r", "master").metadata == {"env": "prod"}
    with pytest.raises(errors.BranchNotFoundError):
        api.edit_metadata("branch", "r@nope", add={"a": "b"})
    with pytest.raises(errors.InvalidArgumentError, match="cannot edit metadata of 'file'"):
        api.edit_metadata("file", "r@master", add={"a": "b"})
    described = api.start_commit("r@master", description="by hand")
    done = api.finish_commit(f"r@{described.id}", description="done by hand")
    assert done.description == "done by hand"


def test_branch_triggers(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    start = api.put_file("r@staging", "/a", b"a")
    every_two = Trigger("staging", commits=2)
    assert api.create_branch("r", "master", "staging", trigger=every_two).trigger == every_two
    assert api.inspect_branch("r", "master").trigger == every_two
    api.create_pipeline(
        {"pipeline": {"name": "reads-master"}, "input": {"pfs": {"repo": "r", "glob": "/"}},
         "transform": {"cmd": ["true"]}}
    )  # fmt: skip
    jobs = len(api.list_jobs("reads-master"))
    api.put_file("r@staging", "/b", b"b")
    assert api.inspect_branch("r", "master").head == start.id  # one commit: not yet
    second = api.put_file("r@staging", "/c", b"c")
    assert api.inspect_branch("r", "master").head == second.id  # two: master follows
    [job, *_] = api.list_jobs("reads-master")
    assert len(api.list_jobs("reads-master")) == jobs + 1 and job.inputs == (
        CommitRef("r", second.id),
    )  # the move runs the pipelines reading master

    by_size = Trigger("staging", size="1K", commits=5, all=False)
    api.create_branch("r", "big", "staging", trigger=by_size)
    api.put_file("r@staging", "/d", b"d" * 600)
    assert api.inspect_branch("r", "big").head == second.id  # 600 bytes: not yet
    grown = api.put_file("r@staging", "/e", b"e" * 600)
    assert api.inspect_branch("r", "big").head == grown.id  # 1200 >= 1K
    both = Trigger("staging", size="1K", commits=1, all=True)
    api.create_branch("r", "both", "staging", trigger=both)
    small = api.put_file("r@staging", "/f", b"f")
    assert api.inspect_branch("r", "both").head == grown.id  # a commit, but not 1K more
    api.create_branch("r", "yearly", "staging", trigger=Trigger("staging", cron_spec="@yearly"))
    api.create_branch("r", "chained", "both", trigger=Trigger("both"))  # follows a follower
    bigger = api.put_file("r@staging", "/g", b"g" * 1100)
    assert api.inspect_branch("r", "both").head == bigger.id
    assert api.inspect_branch("r", "chained").head == bigger.id
    assert api.inspect_branch("r", "yearly").head == small.id  # no new year since

    for bad, message in [
        (Trigger("master", commits=1), "loop"),  # staging would follow master follows staging
        (Trigger("staging", size="lots"), "invalid trigger size"),
        (Trigger("staging", cron_spec="every day"), "invalid cron spec"),
        (Trigger("bad name"), "invalid branch name"),
    ]:
        with pytest.raises(errors.InvalidArgumentError, match=message):
            api.create_branch("r", "staging", trigger=bad)
    assert api.inspect_branch("r", "staging").trigger is None  # nothing changed
    dropped = api.create_branch("r", "master", trigger=None)
    assert dropped.trigger is None and api.inspect_branch("r", "master").trigger is None
    api.put_file("r@staging", "/h", b"h")
    api.put_file("r@staging", "/i", b"i")
    assert api.inspect_branch("r", "master").head == dropped.head  # it no longer follows
    api.delete_pipeline("reads-master")

    # input.pfs.trigger: the input's branch is made to follow the trigger branch
    spec = {"pipeline": {"name": "batched"},
            "input": {"pfs": {"repo": "r", "branch": "batched", "glob": "/",
                              "trigger": {"branch": "staging", "commits": 2}}},
            "transform": {"cmd": ["true"]}}  # fmt: skip
    bad = {**spec, "pipeline": {"name": "bad"}}
    bad["input"] = {"pfs": {**spec["input"]["pfs"], "trigger": {"branch": "staging", "size": "x"}}}  # type: ignore[index]
    with pytest.raises(errors.InvalidSpecError, match=r"input\.pfs\.trigger on r: invalid trigger"):
        api.create_pipeline(bad)
    assert [p.name for p in api.list_pipelines()] == []
    api.create_branch("r", "batched", "staging")  # counts from staging's head
    api.create_pipeline(spec)
    assert api.inspect_branch("r", "batched").trigger == Trigger("staging", commits=2)
    before = len(api.list_jobs("batched"))
    api.put_file("r@staging", "/j", b"j")
    assert len(api.list_jobs("batched")) == before
    batch = api.put_file("r@staging", "/k", b"k")
    assert api.inspect_branch("r", "batched").head == batch.id
    assert api.list_jobs("batched")[0].inputs == (CommitRef("r", batch.id),)
    api.delete_pipeline("batched")


def test_waits_and_subscriptions(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    opened = api.start_commit("r@master")
    with pytest.raises(errors.WaitTimeoutError):
        api.wait_commit(f"r@{opened.id}", timeout=0.2)
    version = api.wait_change(None, 0)
    timer = threading.Timer(0.3, lambda: setup.backend.finish_commit(f"r@{opened.id}"))
    timer.start()
    assert api.wait_commit(f"r@{opened.id}", timeout=30).finished is not None
    assert api.wait_change(version, 5) != version
    assert [c.id for c in api.wait_commit_set(opened.id, timeout=30)] == [opened.id]
    seen = api.subscribe_commits("r", "master", timeout=5, from_start=True)
    assert next(seen).id == opened.id
    put = threading.Timer(0.3, lambda: setup.backend.put_file("r@master", "/n", b"n"))
    put.start()
    assert next(seen).parent == opened.id
    put.join()  # the put may still be finishing its commit: the store outlives it


def test_reading_files(setup: Setup, tmp_path: Path) -> None:
    api = setup.api
    api.create_repo("r")
    big = bytes(range(256)) * 4096
    with api.modify("r@master") as m:
        m.put("/dir/a.txt", b"alpha")
        m.put("/dir/sub/b.bin", big)
        m.put("/top", b"t")
    first = m.result()
    assert [f.path for f in api.list_files("r@master", "/dir")] == ["/dir/a.txt", "/dir/sub/"]
    assert [f.path for f in api.list_files("r@master", "/", limit=1)] == ["/dir/"]
    assert [f.path for f in api.glob_files("r@master", "/dir/*")] == ["/dir/a.txt", "/dir/sub/"]
    later = api.glob_files("r@master", "/*", start_after="/dir/")
    assert [f.path for f in later] == ["/top"]
    info = api.inspect_file("r@master", "/dir/sub/b.bin")
    assert (info.type, info.size_bytes) == ("file", len(big))
    assert api.get_file("r@master", "/dir/a.txt") == b"alpha"
    assert b"".join(api.open_file("r@master", "/dir/sub/b.bin")) == big
    assert api.read_range("r@master", "/dir/sub/b.bin", 1000, 1010) == big[1000:1010]
    assert api.read_range("r@master", "/dir/a.txt", 3, 100) == b"ha"
    assert api.get_to("r@master", "/dir", tmp_path / "out") == len(big) + 5
    assert (tmp_path / "out" / "sub" / "b.bin").read_bytes() == big
    with pytest.raises(errors.PathNotFoundError):
        api.get_file("r@master", "/nope")
    api.put_file("r@master", "/dir/a.txt", b"changed")
    changes = {c.path: c.change for c in api.diff_files("r@master")}
    assert changes == {"/dir/a.txt": "modified"}
    assert {c.path for c in api.diff_files("r@master", f"r@{first.id}", "/top")} == set()


def test_writing_files(setup: Setup, tmp_path: Path) -> None:
    api = setup.api
    api.create_repo("r")
    api.put_file("r@master", "/log", b"one ")
    api.put_file("r@master", "/log", b"two", append=True)
    assert api.get_file("r@master", "/log") == b"one two"
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f.txt").write_bytes(b"f")
    (tmp_path / "d" / "g.txt").write_bytes(b"g")
    api.put_dir("r@master", "/tree", tmp_path / "d")
    assert api.get_file("r@master", "/tree/e/f.txt") == b"f"
    api.copy_file("r@master", "/tree", "r@master", "/copy")
    assert api.get_file("r@master", "/copy/g.txt") == b"g"
    api.delete_file("r@master", "/tree")
    assert [f.path for f in api.list_files("r@master")] == ["/copy/", "/log"]
    with pytest.raises(errors.InvalidPathError):
        api.put_file("r@master", "/../escape", b"x")


def test_the_data_plane(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    api.put_file("r@master", "/a/b", b"bytes")
    [(path, data)] = api.walk_data("r@master", "/a")
    assert (path, data.size) == ("/a/b", 5)
    assert api.path_kind("r@master", "/a") == "dir"
    assert api.path_kind("r@master", "/a/b") == "file"
    assert api.path_kind("r@master", "/zz") is None
    api.check_writable("r@master")
    done = api.inspect_commit("r@master")
    with pytest.raises(errors.CommitFinishedError):
        api.check_writable(f"r@{done.id}")
    lease = api.acquire_lease()
    api.heartbeat_lease(lease)
    api.release_lease(lease)
    # A writer that holds the bytes registers the layer it wrote, under its lease.
    from raypachy.storage import FileSetWriter

    with api.write_lease() as held:
        writer = FileSetWriter(setup.backend.chunks, setup.backend.manifests)
        writer.put("/c", b"written directly")
        layer = writer.close()
        commit = api.register_layer("r@master", layer.id, held)
    assert commit.repo == "r" and api.get_file("r@master", "/c") == b"written directly"


def test_maintenance(setup: Setup) -> None:
    api = setup.api
    api.create_repo("r")
    api.put_file("r@master", "/a", b"a")
    opened = api.start_commit("r@master")
    api.put_file(f"r@{opened.id}", "/gone", b"g" * 10_000)
    api.delete_commit(f"r@{opened.id}")
    report = api.gc()
    assert report.chunks_deleted >= 1
    assert api.fsck(deep=True).ok
    assert api.get_file("r@master", "/a") == b"a"
    assert "pid" in str(api.status())


@raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="double")
def double(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            n = int(f.read_text())
            if n < 0:
                raise ValueError(f"negative: {n}")
            (datum.out / f.name).write_text(str(2 * n))


def test_pipelines_jobs_and_datums(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    api.create_repo("nums")
    api.put_file("nums@master", "/a", b"1")
    api.put_file("nums@master", "/b", b"-2")
    assert [d["id"] for d in api.preview_datums(double)] != []
    info = api.create_pipeline(double)
    assert (info.name, info.state) == ("double", "running")
    assert [p.name for p in api.list_pipelines()] == ["double"]
    assert api.inspect_pipeline("double").version == info.version
    backend.run_jobs()
    [job] = api.list_jobs("double")
    assert api.wait_job("double", job.id, timeout=30).state == JobState.FAILURE
    assert api.inspect_job("double", job.id).datums.failed == 1
    assert [j.id for j in api.list_recent_jobs()] == [job.id]
    datums = api.list_datums("double", job.id)
    assert sorted(d.state for d in datums) == ["failed", "success"]
    failed = next(d for d in datums if d.state == "failed")
    assert api.inspect_datum("double", job.id, failed.id).error
    assert api.list_datums("double") == datums  # the latest job's
    assert any("negative" in entry["log"] for entry in api.logs("double", job.id, failed.id))
    api.put_file("nums@master", "/b", b"2")  # the fix: only /b runs again
    backend.run_jobs()
    latest = api.list_jobs("double", limit=1)[0]
    assert (latest.state, latest.datums.processed, latest.datums.skipped) == (
        JobState.SUCCESS, 1, 1,
    )  # fmt: skip
    assert api.get_file("double@master", "/b") == b"4"
    some = api.list_datums("double", latest.id)[0]
    rerun = api.restart_datum("double", latest.id, some.id)  # an ended job: a new job runs
    assert rerun.id != latest.id and rerun.pipeline == "double"
    backend.run_jobs()
    lineage = api.lineage("double@master")
    assert lineage["commit"]["repo"] == "double"
    updated = api.update_pipeline({**info.spec, "description": "twice"})
    assert updated.version != info.version
    assert [v.current for v in api.list_pipeline_versions("double")] == [False, True]
    assert api.stop_pipeline("double").state == "stopped"
    assert api.start_pipeline("double").state == "running"
    api.put_file("nums@master", "/c", b"3")
    waiting = api.list_jobs("double", limit=1)[0]  # created, not run: nothing drives it yet
    assert not JobState(waiting.state).terminal
    assert api.stop_job("double", waiting.id).state == JobState.KILLED
    created = api.put_pipeline(
        {"pipeline": {"name": "copy"}, "input": {"pfs": {"repo": "nums"}},
         "transform": {"cmd": ["true"]}, "autoscaling": True}
    )  # fmt: skip
    assert created.pipeline.name == "copy" and all("\n" not in w for w in created.warnings)
    key = api.store_code(b"pickled")
    with api.write_lease() as held:
        own, _ = backend.chunks.put(b"pickled too")
        api.register_code(own.hex(), held)
    assert api.gc().chunks_deleted == 0 and backend.chunks.exists(bytes.fromhex(key))
    api.delete_pipeline("copy")
    api.delete_pipeline("double", keep_repo=True)
    assert api.list_pipelines() == [] and api.inspect_repo("double").name == "double"
    with pytest.raises(errors.PipelineNotFoundError):
        api.inspect_pipeline("double")


def test_a_trigger_follows_a_pipeline_output(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    api.create_repo("nums")
    api.put_file("nums@master", "/a", b"1")
    api.create_pipeline(double)
    backend.run_jobs()
    first = api.inspect_branch("double", "master").head
    api.create_branch("double", "release", "master", trigger=Trigger("master", commits=2))
    api.put_file("nums@master", "/b", b"2")
    backend.run_jobs()
    assert api.inspect_branch("double", "release").head == first
    api.put_file("nums@master", "/c", b"3")
    backend.run_jobs()
    head = api.inspect_branch("double", "master").head
    assert head != first and api.inspect_branch("double", "release").head == head
    api.delete_pipeline("double")


def test_pipeline_versions_and_rerun(setup: Setup) -> None:
    api = setup.api
    api.create_repo("nums")
    spec = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "nums", "glob": "/*"}},
            "transform": {"cmd": ["true"]}, "description": "one"}  # fmt: skip
    first = api.create_pipeline(spec)
    with pytest.raises(errors.ConflictError, match="nothing to run"):
        api.rerun_pipeline("p")
    api.put_file("nums@master", "/a", b"1")
    second = api.update_pipeline({**spec, "description": "two"})
    api.update_pipeline({**spec, "description": "three"})
    assert api.inspect_pipeline("p").description == "three"
    older = api.inspect_pipeline("p^1")
    assert (older.version, older.description) == (second.version, "two")
    assert api.inspect_pipeline("p^2").version == first.version
    assert api.inspect_pipeline("p~2").spec["description"] == "one"
    with pytest.raises(errors.PipelineNotFoundError, match="2 earlier version"):
        api.inspect_pipeline("p^3")
    before = api.list_jobs("p")
    rerun = api.rerun_pipeline("p")
    assert rerun.id not in {j.id for j in before} and rerun.pipeline == "p"
    assert rerun.inputs == (CommitRef("nums", api.inspect_commit("nums@master").id),)
    assert api.list_jobs("p", limit=1)[0].id == rerun.id
    again = api.rerun_pipeline("p", reprocess=True)
    assert again.id != rerun.id and api.inspect_pipeline("p").version == rerun.version
    api.stop_pipeline("p")
    with pytest.raises(errors.ConflictError, match="stopped"):
        api.rerun_pipeline("p")
    with pytest.raises(errors.PipelineNotFoundError):
        api.rerun_pipeline("nope")
    api.delete_pipeline("p")


def test_cluster_defaults(setup: Setup) -> None:
    api = setup.api
    api.create_repo("nums")
    assert api.inspect_defaults() == {"create_pipeline_request": {}}
    spec = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "nums"}},
            "transform": {"cmd": ["true"], "env": {"A": "spec"}}, "datum_tries": 2}  # fmt: skip
    before = api.create_pipeline(spec)
    doc = {"create_pipeline_request": {"datum_tries": 7, "description": "from defaults",
                                       "transform": {"env": {"A": "default", "B": "default"}},
                                       "resource_requests": {"cpu": 0.5}}}  # fmt: skip
    assert api.update_defaults(doc) == doc
    assert api.inspect_defaults() == doc
    assert api.inspect_pipeline("p").version == before.version  # existing pipelines keep theirs
    other = api.create_pipeline({**spec, "pipeline": {"name": "q"}})
    assert other.spec["datum_tries"] == 2  # the spec's own fields win
    assert other.spec["description"] == "from defaults"
    assert other.spec["transform"]["env"] == {"A": "spec", "B": "default"}  # objects merge
    assert other.resources == {"cpu": 0.5}
    updated = api.update_pipeline(spec)  # an update gets them too
    assert updated.version != before.version and updated.description == "from defaults"
    for bad, message in [
        ({"datum_tries": 5}, "create_pipeline_request"),
        ({"create_pipeline_request": {"datum_tries": 0}}, "invalid defaults"),
        ({"create_pipeline_request": {"no_such_field": 1}}, "invalid defaults"),
        ({"create_pipeline_request": {"input": {"pfs": {"repo": "x"}}}}, "cannot set input"),
    ]:
        with pytest.raises(errors.InvalidArgumentError, match=message):
            api.update_defaults(bad)
    assert api.inspect_defaults() == doc  # nothing changed
    api.update_defaults({"create_pipeline_request": {}})
    assert "description" not in api.create_pipeline({**spec, "pipeline": {"name": "r"}}).spec
    for name in ("p", "q", "r"):
        api.delete_pipeline(name)


@raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="uses-secret")
def uses_secret(datum):  # type: ignore[no-untyped-def]
    import os

    print("the password is", os.environ["DB_PASS"])  # a careless user: the log hides it
    (datum.out / "len").write_text(str(len(os.environ["DB_PASS"])))
    (datum.out / "upper").write_text(os.environ["DB_PASS"].upper())


@pytest.mark.sqlite_metadata  # reads the SQLite file for the value
def test_secrets(setup: Setup, tmp_path: Path) -> None:
    api, backend = setup.api, setup.backend
    value = "hunter2-" + secrets.token_hex(4)
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
           "data": {"user": "YWRtaW4="}, "stringData": {"password": value}}  # fmt: skip
    created = api.create_secret(doc)
    assert (created.name, created.keys) == ("db", ("password", "user"))
    assert [(s.name, s.keys) for s in api.list_secrets()] == [("db", ("password", "user"))]
    assert api.inspect_secret("db") == created
    assert value not in repr(api.list_secrets()) and value not in repr(created)
    with pytest.raises(errors.SecretExistsError):
        api.create_secret(doc)
    with pytest.raises(errors.InvalidArgumentError, match=r"data\.k is not base64") as bad:
        api.create_secret({"metadata": {"name": "x"}, "data": {"k": value}})
    assert value not in str(bad.value)
    home = tmp_path / "home" / "secrets"
    assert (home / "db.json").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    db = (tmp_path / "home" / "metadata.db").read_bytes()
    assert value.encode() not in db

    api.create_repo("nums")
    api.put_file("nums@master", "/a", b"1")
    missing = {"pipeline": {"name": "nope"}, "input": {"pfs": {"repo": "nums"}},
               "transform": {"cmd": ["true"],
                             "secrets": [{"name": "absent", "key": "k", "env_var": "K"}]}}  # fmt: skip
    with pytest.raises(errors.SecretNotFoundError, match="pipeline nope: secret absent not found"):
        api.create_pipeline(missing)
    with pytest.raises(errors.SecretNotFoundError, match="secret db has no key 'pin'"):
        api.create_pipeline(
            {
                **missing,
                "transform": {
                    "cmd": ["true"],
                    "secrets": [{"name": "db", "key": "pin", "env_var": "K"}],
                },
            }
        )
    from raypachy.pps.decorator import spec_of

    spec = spec_of(uses_secret, api.store_code)
    spec["transform"]["secrets"] = [{"name": "db", "key": "password", "env_var": "DB_PASS"}]
    info = api.create_pipeline(spec)
    assert value not in repr(info)
    backend.run_jobs()
    [job] = api.list_jobs("uses-secret")
    assert job.state == JobState.SUCCESS, job
    assert api.get_file("uses-secret@master", "/upper") == value.upper().encode()
    assert api.get_file("uses-secret@master", "/len") == str(len(value)).encode()
    [log] = [e["log"] for e in api.logs("uses-secret", job.id)]
    assert "the password is ***" in log and value not in log

    api.delete_secret("db")
    assert api.list_secrets() == []
    with pytest.raises(errors.SecretNotFoundError):
        api.delete_secret("db")
    api.put_file("nums@master", "/b", b"2")  # the next job cannot start: the reason says why
    backend.run_jobs()
    latest = api.list_jobs("uses-secret", limit=1)[0]
    assert latest.state == JobState.FAILURE and "secret db not found" in latest.reason


@raypachy.pipeline(input=raypachy.cron("tick", "@every 1h"), name="hourly")
def hourly(datum):  # type: ignore[no-untyped-def]
    for tick in datum.input().iterdir():
        (datum.out / tick.name).write_text("seen")


def test_run_cron_ticks_now(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    api.create_pipeline(hourly)
    [tick] = api.run_cron("hourly")  # an hour early: ticks now all the same
    assert tick.repo == "hourly_tick" and tick.finished is not None
    backend.run_jobs()
    [job] = api.list_jobs("hourly")
    assert job.state == JobState.SUCCESS and job.id == tick.id
    [again] = api.run_cron("hourly")
    backend.run_jobs()
    assert api.inspect_job("hourly", again.id).state == JobState.SUCCESS
    assert len(api.list_files("hourly_tick@master")) == 2
    assert len(api.list_files("hourly@master")) == 2  # one output per tick
    api.create_repo("plain")
    api.put_pipeline({"pipeline": {"name": "plainp"}, "input": {"pfs": {"repo": "plain"}},
                      "transform": {"cmd": ["true"]}})  # fmt: skip
    with pytest.raises(errors.InvalidArgumentError, match="pipeline plainp has no cron input"):
        api.run_cron("plainp")
    with pytest.raises(errors.PipelineNotFoundError):
        api.run_cron("nope")


def test_projects(setup: Setup) -> None:
    api, backend = setup.api, setup.backend
    assert [p.name for p in api.list_projects()] == ["default"]
    made = api.create_project("staging", "pre-production")
    assert (made.name, made.description) == ("staging", "pre-production") and made.created
    with pytest.raises(errors.ProjectExistsError):
        api.create_project("staging")
    assert api.create_project("staging", "pre", update=True).description == "pre"
    assert api.inspect_project("staging").description == "pre"
    assert [p.name for p in api.list_projects()] == ["default", "staging"]
    with pytest.raises(errors.ProjectNotFoundError, match="raypachy create project nope"):
        api.create_repo("nope/images")
    # Names are unique per project: two repos called images.
    api.create_repo("images", "plain")
    staged = api.create_repo("staging/images", "staged")
    assert (staged.name, staged.project) == ("staging/images", "staging")
    assert (
        to_json(staged)["project"] == "staging" and api.inspect_repo("images").project == "default"
    )
    api.put_file("images@master", "/a", b"from default")
    api.put_file("staging/images@master", "/b", b"from staging")
    assert api.get_file("staging/images@master", "/b") == b"from staging"
    assert [f.path for f in api.list_files("images@master:/")] == ["/a"]
    assert [b.name for b in api.list_branches("staging/images")] == ["master"]
    assert api.inspect_branch("staging/images", "master").project == "staging"
    [commit] = api.list_commits("staging/images")
    assert commit.project == "staging" and to_json(commit)["project"] == "staging"
    # A pipeline of staging reads its own project's images and the default project's.
    spec = {"pipeline": {"name": "edges", "project": {"name": "staging"}},
            "input": {"union": [{"pfs": {"repo": "images", "glob": "/*", "project": "default"}},
                                {"pfs": {"repo": "images", "glob": "/*"}}]},
            "transform": {"cmd": ["sh", "-c", "cp /pfs/images/* /pfs/out/; for f in /pfs/images/*;"
                                  " do echo $PPS_PROJECT_NAME $PPS_PIPELINE_NAME > "
                                  "/pfs/out/who-$(basename $f); done"]}}  # fmt: skip
    info = api.create_pipeline(spec)
    assert (info.name, info.project, info.inputs) == (
        "staging/edges",
        "staging",
        ("images", "staging/images"),
    )
    assert to_json(info)["project"] == "staging"
    backend.run_jobs()
    [job] = api.list_jobs("staging/edges")
    assert (job.project, job.state) == ("staging", JobState.SUCCESS), job.reason
    assert api.inspect_job("staging/edges", job.id).datums.processed == 2
    assert api.wait_job("staging/edges", job.id, timeout=30).id == job.id
    assert [v.current for v in api.list_pipeline_versions("staging/edges")] == [True]
    assert len(api.list_datums("staging/edges", job.id)) == 2
    assert api.get_file("staging/edges@master", "/a") == b"from default"
    assert api.get_file("staging/edges@master", "/b") == b"from staging"
    assert api.get_file("staging/edges@master", "/who-a") == b"staging edges\n"  # as Pachyderm
    assert api.stop_pipeline("staging/edges").state == "stopped"
    assert api.start_pipeline("staging/edges").state == "running"
    with pytest.raises(errors.RepoNotFoundError):
        api.inspect_repo("edges")  # the output repo lives in staging
    # A project that holds repos or pipelines is deleted only with force.
    with pytest.raises(errors.ProjectNotEmptyError, match=r"still holds 1 pipeline\(s\) and"):
        api.delete_project("staging")
    assert api.inspect_pipeline("staging/edges").state == "running"  # nothing was deleted
    deleted = api.delete_project("staging", force=True)
    assert {"pipeline staging/edges", "repo staging/images"} <= set(deleted)
    assert [p.name for p in api.list_projects()] == ["default"]
    assert [r.name for r in api.list_repos()] == ["images"]
    with pytest.raises(errors.ProjectNotFoundError):
        api.inspect_project("staging")
    with pytest.raises(errors.InvalidArgumentError, match="default project cannot be deleted"):
        api.delete_project("default")
    api.create_project("empty")
    assert api.delete_project("empty") == []
    # A cron pipeline's tick repo goes with its pipeline; the project still goes.
    api.create_project("ticks")
    api.create_pipeline({"pipeline": {"name": "tick", "project": "ticks"},
                         "input": {"cron": {"name": "every", "spec": "@every 1h"}},
                         "transform": {"cmd": ["true"]}})  # fmt: skip
    assert "ticks/tick_every" in {r.name for r in api.list_repos()}
    assert api.delete_project("ticks", force=True) == ["pipeline ticks/tick"]
    assert {r.project for r in api.list_repos()} == {"default"}


def test_a_project_feeding_another_projects_pipeline_is_not_deleted_half(setup: Setup) -> None:
    api = setup.api
    api.create_project("up")
    api.create_repo("up/raw")
    copy = {"input": {"pfs": {"repo": "raw"}}, "transform": {"cmd": ["true"]}}
    api.create_pipeline({**copy, "pipeline": {"name": "first", "project": "up"}})
    api.create_pipeline({**copy, "input": {"pfs": {"repo": "first", "project": "up"}},
                         "pipeline": {"name": "down"}})  # fmt: skip
    with pytest.raises(errors.ConflictError, match="pipeline down of another project reads "
                                                   "the output of up/first"):  # fmt: skip
        api.delete_project("up", force=True)
    assert api.inspect_pipeline("up/first").name == "up/first"  # nothing was deleted
    api.delete_pipeline("down")
    assert api.delete_project("up", force=True) == ["pipeline up/first", "repo up/raw"]


def test_project_defaults(setup: Setup) -> None:
    api = setup.api
    api.create_project("team")
    api.create_repo("team/nums")
    api.create_repo("nums")
    cluster = {"create_pipeline_request": {
        "datum_tries": 7, "description": "cluster",
        "transform": {"env": {"A": "cluster", "B": "cluster"}}}}  # fmt: skip
    team = {"create_pipeline_request": {"datum_tries": 5, "transform": {"env": {"B": "team"}}}}
    api.update_defaults(cluster)
    assert api.update_defaults(team, project="team") == team
    assert api.inspect_defaults(project="team") == team
    assert api.inspect_defaults() == cluster
    api.create_repo("project")  # a repo whose name is a word the defaults are kept by
    api.delete_repo("project")
    assert api.inspect_defaults(project="team") == team  # its deletion dropped nothing else
    spec = {"pipeline": {"name": "p", "project": "team"}, "input": {"pfs": {"repo": "nums"}},
            "transform": {"cmd": ["true"], "env": {"C": "spec"}}}  # fmt: skip
    made = api.create_pipeline(spec)  # cluster < project < spec
    assert (made.spec["datum_tries"], made.description) == (5, "cluster")
    assert made.spec["transform"]["env"] == {"A": "cluster", "B": "team", "C": "spec"}
    assert made.inputs == ("team/nums",)
    plain = api.create_pipeline({**spec, "pipeline": {"name": "p"}})  # the default project
    assert plain.spec["datum_tries"] == 7 and plain.spec["transform"]["env"]["B"] == "cluster"
    with pytest.raises(errors.ProjectNotFoundError):
        api.inspect_defaults(project="nope")
    with pytest.raises(errors.ProjectNotFoundError):
        api.update_defaults(team, project="nope")
    api.update_defaults({"create_pipeline_request": {}})
    api.delete_project("team", force=True)
    api.delete_pipeline("p")


def test_every_verb_was_asked_of_both() -> None:
    unasked = {kind: sorted(VERBS - asked) for kind, asked in ASKED.items()}
    assert unasked == {"pachd": [], "client": []}
