"""What only the SQLite store does: its numbered schema, and databases made before it."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from raypachy.errors import BackendError, InvalidArgumentError
from raypachy.pfs.metadata import (
    CommitId,
    DatumId,
    DatumInputRecord,
    DatumRecord,
    DatumStateRecord,
    LeaseRecord,
    RepoRecord,
    as_job_id,
    open_store,
)
from raypachy.pfs.metadata.sqlite.schema import LATEST


def _migrations(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def test_a_new_database_gets_every_migration(tmp_path: Path) -> None:
    open_store(str(tmp_path / "m.db"))
    assert _migrations(tmp_path / "m.db") == list(range(1, LATEST + 1))


def test_a_database_from_before_numbered_schemas_opens_with_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = open_store(str(db))
    with store.write() as tx:
        tx.insert_repo(RepoRecord("kept", 1.0, "from before"))
    store.close()
    with sqlite3.connect(db) as conn:  # as older releases left it: tables but no numbering,
        conn.execute("DROP TABLE schema_migrations")  # the pipeline tables only once a PPS
        for table in ("jobs", "job_datums", "datum_state", "pipelines", "code_pins"):  # ran,
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP TABLE leases")  # and leases without an end
        conn.execute("CREATE TABLE leases (id TEXT PRIMARY KEY, host TEXT NOT NULL, "
                     "pid INTEGER NOT NULL, started REAL NOT NULL, heartbeat REAL NOT NULL)")  # fmt: skip
        conn.execute("INSERT INTO leases VALUES ('old', 'h', 1, 2.0, 3.0)")
    again = open_store(str(db))
    with again.write() as tx:
        assert tx.repos() == [RepoRecord("kept", 1.0, "from before")]
        assert tx.pipelines() == [] and tx.jobs() == []  # the missing tables were made
        assert tx.leases() == [LeaseRecord("old", "h", 1, 2.0, 3.0, None)]
        tx.insert_lease(LeaseRecord("new", "h", 1, 4.0, 4.0, 9.0))
        tx.pin_code("ab", 1.0, 10.0)
    with again.read() as tx:
        assert tx.lease("new") == LeaseRecord("new", "h", 1, 4.0, 4.0, 9.0)
        assert tx.pinned_code(0.0) == ["ab"]
    assert _migrations(db) == list(range(1, LATEST + 1))


def test_a_database_of_a_newer_raypachy_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    open_store(str(db))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, description, applied) VALUES (?, 'x', 0)",
            (LATEST + 1,),
        )
    with pytest.raises(BackendError, match="upgrade raypachy") as info:
        open_store(str(db))
    assert str(db) in str(info.value) and "\n" not in str(info.value)


def _open(path: str) -> int:
    store = open_store(path)
    with store.read() as tx:
        return len(tx.repos())


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    path = str(tmp_path / "m.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open, [path] * 4) == [0, 0, 0, 0]
    assert _migrations(tmp_path / "m.db") == list(range(1, LATEST + 1))  # each applied once


def test_an_unknown_store_location_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"mysql:// is not supported; give postgres"):
        open_store("mysql://user@host/db")
    assert not list(tmp_path.iterdir())


def test_datum_columns_are_the_json_older_releases_wrote(tmp_path: Path) -> None:
    odd = 'a "q" \\ \n é \u2028 🐍'
    store = open_store(str(tmp_path / "m.db"))
    j1 = as_job_id("1" * 32)
    inputs = (DatumInputRecord("in", "raw", CommitId("1" * 32), odd),
              DatumInputRecord("b", odd, CommitId("2" * 32), "/x"))  # fmt: skip
    with store.write() as tx:
        tx.insert_job_datums(
            [DatumRecord("p", j1, DatumId("d"), "success", "h", inputs, (odd, "/y"), 1, "", 0.1)]
        )
        tx.replace_datum_states("p", [], [DatumStateRecord("p", DatumId("d"), "h", (odd,), j1)])
    with sqlite3.connect(tmp_path / "m.db") as conn:
        [(ins, outs)] = conn.execute("SELECT inputs, outputs FROM job_datums").fetchall()
        [(state_outs,)] = conn.execute("SELECT outputs FROM datum_state").fetchall()
    assert ins == json.dumps([["in", "raw", "1" * 32, odd], ["b", odd, "2" * 32, "/x"]])
    assert outs == json.dumps([odd, "/y"]) and state_outs == json.dumps([odd])
