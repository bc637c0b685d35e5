"""What only the PostgreSQL store has: URLs, its migrations, a server that goes away, and
writers in separate processes sharing one database (the shared contract is in
``test_metadata_store.py``)."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from raypachy.errors import BackendError, InvalidArgumentError, UnavailableError
from raypachy.pfs import PFS
from raypachy.pfs.metadata import (
    CommitId,
    DatumId,
    DatumRecord,
    RepoRecord,
    as_job_id,
    open_store,
)
from raypachy.pfs.metadata.migrations import migration_states
from raypachy.pfs.metadata.postgres import schema
from raypachy.pfs.metadata.postgres.pool import connect
from tests.pg_server import PgServer, start_pg_server

SECRET = "s3cr3t-pw"
WRITER = Path(__file__).with_name("writer_script.py")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql://me:{SECRET}@127.0.0.1:port/db", "port 'port' is not a number"),
        (f"postgresql://me:{SECRET}@[::1/db", 'matching "]"'),
        (f"postgresql://me:{SECRET}@127.0.0.1/db?nonsense=1", "invalid URI query parameter"),
        (f"mysql://me:{SECRET}@127.0.0.1/db", "mysql:// is not supported"),
    ],
)
def test_a_bad_url_is_one_line_naming_it_with_the_password_masked(url: str, says: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        open_store(url)
    message = str(caught.value)
    assert says in message and "me:***@" in message and "postgresql://user" in message
    assert SECRET not in message and "\n" not in message


def test_an_unreachable_server_is_one_line_naming_it(tmp_path: Path) -> None:
    url = f"postgresql://me:{SECRET}@127.0.0.1:{_closed_port()}/db"
    with pytest.raises(UnavailableError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith(f"cannot open the metadata database {url.replace(SECRET, '***')}")
    assert "Connection refused" in message and "check that PostgreSQL runs there" in message
    assert SECRET not in message and "\n" not in message


def test_a_wrong_password_or_database_is_named_not_shown(pg_server: PgServer) -> None:
    for url, says in [
        (pg_server.url(password=SECRET), "password authentication failed"),
        (pg_server.url("no_such_db"), 'database "no_such_db" does not exist'),
    ]:
        with pytest.raises(UnavailableError, match=says) as caught:
            open_store(url)
        assert SECRET not in str(caught.value) and pg_server.password not in str(caught.value)
        assert "raypachy:***@127.0.0.1" in str(caught.value)


# --- migrations ------------------------------------------------------------------------------


def _versions(url: str) -> list[tuple[int, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version, COUNT(*) FROM raypachy.schema_migrations GROUP BY version "
            "ORDER BY version"
        ).fetchall()
    return [(int(v), int(n)) for v, n in rows]


def test_migrations_are_listed_then_applied_once_at_start(pg_url: str, pg_stores: list) -> None:
    before = migration_states(pg_url)
    assert [(m.version, m.applied) for m in before] == [
        (m.version, None) for m in schema.MIGRATIONS
    ]
    with psycopg.connect(pg_url) as conn:  # listing changed nothing
        assert conn.execute("SELECT to_regnamespace('raypachy')").fetchone() == (None,)
    store = open_store(pg_url)
    after = migration_states(pg_url)
    assert all(m.applied is not None for m in after)
    open_store(pg_url)  # opening again applies nothing again
    assert migration_states(pg_url) == after
    assert _versions(pg_url) == [(m.version, 1) for m in schema.MIGRATIONS]
    with store.write() as tx:  # the tables are in the raypachy schema, not public
        tx.insert_repo(RepoRecord("r", 1.0, ""))
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT name FROM raypachy.repos").fetchall() == [("r",)]
        assert conn.execute("SELECT to_regclass('public.repos')").fetchone() == (None,)


def test_a_later_migration_reaches_a_database_made_before_it(pg_url: str) -> None:
    extra = schema.Migration(schema.LATEST + 1, "a later change", ("CREATE TABLE later (x INT)",))
    with connect(pg_url, "db") as conn:
        assert schema.migrate(conn, "db") == [m.version for m in schema.MIGRATIONS]
        assert schema.pending(conn, "db", (*schema.MIGRATIONS, extra)) == [extra]
        assert schema.migrate(conn, "db", (*schema.MIGRATIONS, extra)) == [extra.version]
        assert schema.migrate(conn, "db", (*schema.MIGRATIONS, extra)) == []
        assert conn.execute("SELECT to_regclass('raypachy.later')").fetchone() != (None,)
    # ...and this raypachy, which does not know it, refuses that database
    with pytest.raises(BackendError, match=f"schema version {extra.version}, newer than this"):
        open_store(pg_url)
    with pytest.raises(BackendError, match="upgrade raypachy"):
        migration_states(pg_url)


def _open_and_count(url: str) -> int:
    store = open_store(url)
    with store.read() as tx:
        found = len(tx.repos())
    store.close()
    return found


def test_processes_opening_a_new_database_at_once_all_succeed(pg_url: str) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open_and_count, [pg_url] * 4) == [0, 0, 0, 0]
    assert _versions(pg_url) == [(m.version, 1) for m in schema.MIGRATIONS]  # each once


# --- what PostgreSQL's text cannot hold -------------------------------------------------------


def test_a_nul_in_free_text_is_kept_as_a_replacement_character(
    pg_url: str, pg_stores: list
) -> None:
    store = open_store(pg_url)
    j1 = as_job_id("1" * 32)
    record = DatumRecord("p", j1, DatumId("d"), "failed", "h", (), (), 3, "bad\x00byte", 0.5)
    with store.write() as tx:
        tx.insert_repo(RepoRecord("r", 1.0, "a\x00b"))
        tx.insert_job_datums([record])
    with store.read() as tx:
        assert tx.repo("r") == RepoRecord("r", 1.0, "a\ufffdb")
        assert tx.job_datums("p", j1) == [replace(record, error="bad\ufffdbyte")]


# --- a server that goes away and comes back ----------------------------------------------------


@pytest.fixture
def own_server() -> PgServer:
    server = start_pg_server()
    yield server  # type: ignore[misc]
    server.close()


def test_a_restarted_server_fails_what_runs_then_serves_again(own_server: PgServer) -> None:
    url = own_server.create_database("restarts")
    store = open_store(url)
    try:
        with store.write() as tx:
            tx.insert_repo(RepoRecord("before", 1.0, ""))
        own_server.stop()
        with pytest.raises(UnavailableError) as caught, store.write() as tx:
            tx.insert_repo(RepoRecord("during", 1.0, ""))
        message = str(caught.value)
        assert "raypachy:***@127.0.0.1" in message and own_server.password not in message
        assert "\n" not in message
        own_server.start()  # same port, same data
        with store.write() as tx:  # the pool replaced its dead connections
            tx.insert_repo(RepoRecord("after", 1.0, ""))
        with store.read() as tx:
            assert [r.name for r in tx.repos()] == ["after", "before"]
    finally:
        store.close()


# --- writers in separate processes -------------------------------------------------------------


def test_two_processes_committing_to_one_branch_lose_no_commit(
    tmp_path: Path, pg_url: str, pg_stores: list
) -> None:
    home = tmp_path / "home"  # the storage both processes write (the metadata is in pg_url)
    pfs = PFS(open_store(pg_url), f"file://{home}/storage")
    pfs.create_repo("r")
    env = {**os.environ, "RAYPACHY_METADATA": pg_url}
    writers = [
        subprocess.Popen([sys.executable, str(WRITER), str(home), "many-puts", f"w{i}", "25"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(2)
    ]  # fmt: skip
    for w in writers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err.decode()[-2000:]
    history = pfs.list_commits("r", "master")  # newest first
    assert len(history) == 50 and len({c.id for c in history}) == 50
    assert history[-1].parent is None
    for newer, older in itertools.pairwise(history):
        assert newer.parent == older.id  # one linear chain: no move was lost
    paths = {p for p, _ in pfs.walk_files("r@master")}
    assert paths == {f"/w{i}/{j}" for i in range(2) for j in range(25)}
    assert not (home / "metadata.db").exists()  # they really used PostgreSQL
    with pfs.meta.read() as tx:
        assert tx.commit("r", CommitId(history[0].id)) is not None
