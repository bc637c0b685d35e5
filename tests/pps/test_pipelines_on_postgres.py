"""A whole installation with its metadata in PostgreSQL, in process: repos, commits and an
incremental pipeline, run by the same job runner the cluster uses. (The whole in-process
suite runs on PostgreSQL with ``pytest --metadata-store=postgres``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import raypachy
from raypachy.pfs.metadata import open_store
from raypachy.pps.skiplog import job_datum_records
from tests.pps.conftest import Local


@raypachy.pipeline(input=raypachy.pfs("words", glob="/*"), name="shout")
def shout(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_text(f.read_text().upper())


@pytest.fixture
def on_postgres(
    tmp_path: Path, pg_url: str, pg_stores: list, monkeypatch: pytest.MonkeyPatch
) -> Local:
    monkeypatch.setenv("RAYPACHY_METADATA", pg_url)
    return Local(tmp_path / "home")


def test_repo_commits_and_an_incremental_job_with_postgres_metadata(
    on_postgres: Local, pg_url: str, tmp_path: Path
) -> None:
    local = on_postgres
    local.pfs.create_repo("words")
    local.put("words", {"/a": b"hello", "/b": b"world"})
    local.create(shout)
    [first] = local.run()
    assert first.state == "success" and first.datums.processed == 2
    assert local.files("shout") == {"/a": b"HELLO", "/b": b"WORLD"}
    change = local.put("words", {"/c": b"again"}, delete=["/a"])
    [second] = local.run()
    assert second.id == change and second.state == "success"
    assert (second.datums.total, second.datums.processed, second.datums.skipped) == (2, 1, 1)
    assert local.files("shout") == {"/b": b"WORLD", "/c": b"AGAIN"}
    out = local.pfs.inspect_commit("shout@master")
    assert {(p.repo, p.id) for p in out.provenance} == {("words", change)}
    # the rows are in PostgreSQL (another client sees them), and no SQLite file was made
    assert not (tmp_path / "home" / "metadata.db").exists()
    other = open_store(pg_url)
    with other.read() as tx:
        assert [r.name for r in tx.repos()] == ["shout", "words"]
        assert [j.id for j in tx.jobs("shout")] == [second.id, first.id]
        job = tx.job("shout", second.id)
        assert job is not None
        # the skipped datum has no row of its own: it is derived from the first job's
        assert [d.state for d in tx.job_datums("shout", second.id)] == ["success"]
        assert {d.id for d in tx.datum_states("shout")} == {
            d.id for d in job_datum_records(tx, job) if d.state != "failed"
        }
