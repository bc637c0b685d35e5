"""Planning from the change since the last job gives what planning everything gives.

Two installations get the same commits; one plans each job from scratch (its ``diff_base``
says no), the other from the diff whenever the job before allows it. After every step both
must have the same output files, the same job states and counts, and the same datums in
``list datum`` (skipped ones included), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import raypachy
from raypachy.pps import jobrun
from raypachy.pps.model import JobInfo
from tests.pps.conftest import Local


def shout(datum):  # type: ignore[no-untyped-def]
    """Upper-case every file; content ``fail`` fails the datum."""
    for f in sorted(datum.input().rglob("*")):
        if f.is_file():
            if f.read_bytes() == b"fail":
                raise ValueError(f"bad content in {f.name}")
            (datum.out / f.name).write_bytes(f.read_bytes().upper())


@pytest.fixture(params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[tuple[Local, Local, list[bool]]]:  # fmt: skip
    """(planned from the diff, planned in full, whether each diff-eligible job used the diff)."""
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        request.getfixturevalue("pg_stores")
        urls = [server.create_database(), server.create_database()]
    else:
        urls = []
        monkeypatch.delenv("RAYPACHY_METADATA", raising=False)  # the suite may run on PG
    locals_ = []
    for i in range(2):
        if urls:
            monkeypatch.setenv("RAYPACHY_METADATA", urls[i])
        locals_.append(Local(tmp_path / f"home{i}"))
    diff, full = locals_
    full.pps.diff_base = lambda *args: None  # type: ignore[method-assign]
    used: list[bool] = []
    real = jobrun.diff_plan

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        used.append(result is not None)
        return result

    monkeypatch.setattr(jobrun, "diff_plan", spy)
    yield diff, full, used
    if urls:
        for local in locals_:
            local.pfs.meta.close()
        for url in urls:
            server.drop_database(url.rsplit("/", 1)[1])


def _datums(local: Local, job: JobInfo) -> list[tuple[Any, ...]]:
    commits = {(i.repo, i.id) for i in job.inputs}
    return [
        (d.id, d.state, d.outputs, d.error.partition(":")[0],
         tuple((i.name, i.repo, i.path, (i.repo, i.commit) in commits) for i in d.inputs))
        for d in local.pachd.list_datums(job.pipeline, job.id)
    ]  # fmt: skip


def _same(diff: Local, full: Local, repos: list[str]) -> list[JobInfo]:
    """Run both; assert they agree; return the diff side's jobs."""
    a, b = diff.run(), full.run()
    assert [(j.pipeline, j.state) for j in a] == [(j.pipeline, j.state) for j in b]
    for x, y in zip(a, b, strict=True):
        assert x.datums == y.datums, (x, y)
        assert _datums(diff, x) == _datums(full, y)
        assert len(_datums(diff, x)) == x.datums.total
        assert {d.state for d in diff.pachd.list_datums(x.pipeline, x.id)} <= {
            "success",
            "skipped",
            "failed",
            "recovered",
        }
    for repo in repos:
        assert diff.files(repo) == full.files(repo)
    return a


def _both(diff: Local, full: Local, repo: str, files: dict[str, bytes], delete: list[str] = ()
          ) -> None:  # type: ignore[assignment]  # fmt: skip
    diff.put(repo, files, delete)
    full.put(repo, files, delete)


def test_file_globs_adds_changes_deletes_failures_and_restarts(
    pair: tuple[Local, Local, list[bool]],
) -> None:
    diff, full, used = pair
    spec = raypachy.pipeline(shout, input=raypachy.pfs("words", glob="/*"), name="shout")
    for local in (diff, full):
        local.pfs.create_repo("words")
        local.put("words", {"/a": b"a", "/b": b"b", "/c": b"c"})
        local.create(spec)
    [first] = _same(diff, full, ["shout"])
    assert first.datums.processed == 3 and used == []  # the first job plans everything

    _both(diff, full, "words", {"/d": b"d"})  # an add
    [job] = _same(diff, full, ["shout"])
    assert (job.datums.total, job.datums.processed, job.datums.skipped) == (4, 1, 3)
    assert used == [True]

    _both(diff, full, "words", {"/b": b"bb"})  # a change
    [job] = _same(diff, full, ["shout"])
    assert (job.datums.processed, job.datums.skipped) == (1, 3)

    _both(diff, full, "words", {}, delete=["/c"])  # a delete: its output goes
    [job] = _same(diff, full, ["shout"])
    assert (job.datums.total, job.datums.processed, job.datums.skipped) == (3, 0, 3)
    assert "/c" not in diff.files("shout") and diff.files("shout")["/b"] == b"BB"

    _both(diff, full, "words", {"/e": b"fail", "/b": b"b3"})  # a failed datum
    [failed] = _same(diff, full, ["shout"])
    assert failed.state == "failure" and failed.datums.failed == 1
    assert used == [True] * 4

    _both(diff, full, "words", {"/f": b"f"})  # after a failure: the full plan retries /e
    [job] = _same(diff, full, ["shout"])
    assert job.state == "failure" and used[-1] is True and len(used) == 4

    _both(diff, full, "words", {"/e": b"fixed"})
    [job] = _same(diff, full, ["shout"])
    assert job.state == "success" and (job.datums.processed, job.datums.skipped) == (1, 4)

    _both(diff, full, "words", {"/g": b"g"})
    [good] = _same(diff, full, ["shout"])
    assert good.datums.skipped == 5 and used[-1] is True

    # restart datum on an ended job: a new job on the same inputs, nothing changed
    e = next(d.id for d in diff.pachd.list_datums("shout", good.id) if d.inputs[0].path == "/e")
    for local, job_id in ((diff, good.id), (full, full.pachd.list_jobs("shout")[0].id)):
        local.pachd.restart_datum("shout", job_id, e)
    [again] = _same(diff, full, ["shout"])
    assert (again.datums.total, again.datums.skipped) == (6, 6) and used[-1] is True
    # an unchanged skipped datum is found by itself too
    assert diff.pachd.list_datums("shout", again.id)[0].state == "skipped"
    info = diff.pachd.inspect_datum("shout", again.id, e)
    assert info.state == "skipped" and info.outputs == ("/e",)


def test_directory_globs_unions_and_directory_deletes(
    pair: tuple[Local, Local, list[bool]],
) -> None:
    diff, full, used = pair
    spec = raypachy.pipeline(
        shout,
        input=raypachy.union(raypachy.pfs("left", glob="/*"), raypachy.pfs("right", glob="/*/*")),
        name="both",
    )
    for local in (diff, full):
        local.pfs.create_repo("left")
        local.pfs.create_repo("right")
        local.put("left", {"/d1/x": b"x", "/d1/y": b"y", "/d2/z": b"z", "/top": b"t"})
        local.put("right", {"/p/q/r": b"r", "/p/s": b"s", "/u/v": b"v"})
        local.create(spec)
    _same(diff, full, ["both"])
    _both(diff, full, "left", {"/d1/y": b"y2"})  # a file inside a directory datum
    [job] = _same(diff, full, ["both"])
    assert (job.datums.processed, job.datums.skipped) == (1, 5) and used[-1] is True
    _both(diff, full, "left", {}, delete=["/d2"])  # a whole directory
    [job] = _same(diff, full, ["both"])
    assert job.datums.total == 5 and used[-1] is True
    _both(diff, full, "right", {"/p/q/w": b"w", "/n/m": b"m"})  # deeper than the glob
    [job] = _same(diff, full, ["both"])
    assert (job.datums.processed, job.datums.skipped) == (2, 4) and used[-1] is True


def test_a_processed_datum_writing_an_unchanged_datums_path_fails_by_name(
    pair: tuple[Local, Local, list[bool]],
) -> None:
    diff, full, used = pair

    def same_name(datum):  # type: ignore[no-untyped-def]
        for f in datum.input().rglob("*"):
            if f.is_file():
                (datum.out / f.read_text()).write_text(f.name)

    spec = raypachy.pipeline(same_name, input=raypachy.pfs("names", glob="/*"), name="names_out")
    for local in (diff, full):
        local.pfs.create_repo("names")
        local.put("names", {"/a": b"one", "/b": b"two"})
        local.create(spec)
    _same(diff, full, ["names_out"])
    _both(diff, full, "names", {"/c": b"one"})  # /c writes /one, which /a owns
    [job] = _same(diff, full, ["names_out"])
    assert job.state == "failure" and "both write /one" in job.reason
    assert used == [True]
