"""Skipped datums have no row of their own: ``list datum`` derives them from each datum's
history, and a database whose jobs wrote a row per skipped datum (before ``datum_gone``)
gets the datums those jobs dropped back-filled, so that no vanished datum reappears."""

from __future__ import annotations

from typing import Any

import raypachy
from raypachy.pfs.metadata.rows import BACKFILL_DATUM_GONE
from raypachy.pps.skiplog import job_datum_records, states_after
from tests.pps.conftest import Local


def copy(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_bytes(f.read_bytes())


SPEC = raypachy.pipeline(copy, input=raypachy.pfs("src", glob="/*"), name="dst")


def _listing(local: Local, job: str) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for d in local.pachd.list_datums("dst", job):
        out.append((d.inputs[0].path, d.state, d.outputs))
    return sorted(out)


def test_a_job_writes_rows_only_for_datums_it_ran_and_lists_the_skipped_too(local: Local) -> None:
    local.pfs.create_repo("src")
    local.put("src", {"/a": b"1", "/b": b"2", "/c": b"3"})
    local.create(SPEC)
    local.run()
    local.put("src", {"/d": b"4"}, delete=["/c"])
    [job] = local.run()
    with local.pfs.meta.read() as tx:
        rows = tx.job_datums("dst", job.id)
    assert [r.state for r in rows] == ["success"]  # /d alone: /a and /b were skipped
    assert _listing(local, job.id) == [
        ("/a", "skipped", ("/a",)), ("/b", "skipped", ("/b",)), ("/d", "success", ("/d",)),
    ]  # fmt: skip
    # paging through a job with derived datums
    ids = [d.id for d in local.pachd.list_datums("dst", job.id)]
    assert [d.id for d in local.pachd.list_datums("dst", job.id, limit=2)] == ids[:2]
    after = local.pachd.list_datums("dst", job.id, start_after=ids[0])
    assert [d.id for d in after] == ids[1:]
    # every skipped datum names this job's input commit, as a written row did
    for d in local.pachd.list_datums("dst", job.id):
        assert d.job == job.id and d.inputs[0].commit == job.inputs[0].id


def _as_written_before(local: Local) -> None:
    """Rewrite the history as jobs wrote it before: a row per skipped datum, no drops."""
    with local.pfs.meta.write() as tx:
        for job in tx.jobs("dst"):
            legacy = [r for r in job_datum_records(tx, job) if r.state == "skipped"]
            tx.insert_job_datums(legacy)
        conn: Any = tx.conn  # type: ignore[attr-defined]
        conn.execute("DELETE FROM datum_gone")


def test_the_backfill_finds_the_datums_old_jobs_dropped(local: Local) -> None:
    local.pfs.create_repo("src")
    local.put("src", {"/a": b"1", "/b": b"2", "/c": b"3"})
    local.create(SPEC)
    [first] = local.run()
    local.put("src", {"/d": b"4"}, delete=["/c"])  # /c goes
    [second] = local.run()
    local.put("src", {}, delete=["/a", "/b", "/d"])  # a job of no datums: all go
    [empty] = local.run()
    assert empty.datums.total == 0
    local.put("src", {"/a": b"1", "/e": b"5"})
    [fourth] = local.run()
    before = {j: _listing(local, j) for j in (first.id, second.id, empty.id, fourth.id)}

    def alive_after_fourth() -> set[str]:
        with local.pfs.meta.read() as tx:
            job = tx.job("dst", fourth.id)
            states = states_after(tx, job, "dst")
            return {tx.job_datums("dst", s.job, s.id)[0].inputs[0].path for s in states}

    assert alive_after_fourth() == {"/a", "/e"}
    _as_written_before(local)
    assert alive_after_fourth() == {"/a", "/b", "/c", "/d", "/e"}  # drops unknown: wrong
    with local.pfs.meta.write() as tx:
        tx.conn.execute(BACKFILL_DATUM_GONE)  # type: ignore[attr-defined]
    assert alive_after_fourth() == {"/a", "/e"}
    assert {j: _listing(local, j) for j in before} == before
    local.put("src", {"/f": b"6"})
    [fifth] = local.run()
    assert _listing(local, fifth.id) == [
        ("/a", "skipped", ("/a",)), ("/e", "skipped", ("/e",)), ("/f", "success", ("/f",)),
    ]  # fmt: skip


def test_squashing_a_middle_commit_keeps_the_later_jobs_datums(local: Local) -> None:
    local.pfs.create_repo("src")
    local.put("src", {"/a": b"1"})
    local.create(SPEC)
    local.run()
    middle = local.put("src", {"/b": b"2"})
    local.run()
    local.put("src", {"/c": b"3"})
    [last] = local.run()
    before = _listing(local, last.id)
    assert [state for _, state, _ in before] == ["skipped", "skipped", "success"]
    local.pachd.squash_commit(middle)  # its job goes; /b's record was that job's row
    assert _listing(local, last.id) == before
    local.put("src", {"/d": b"4"})
    [after] = local.run()
    assert after.datums.skipped == 3
    assert [p for p, state, _ in _listing(local, after.id) if state == "skipped"] == [
        "/a",
        "/b",
        "/c",
    ]
