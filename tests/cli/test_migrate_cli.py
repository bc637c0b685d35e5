"""``raypachy migrate`` and ``--metadata`` as a user runs them: a real subprocess per command,
against a real PostgreSQL (no Ray cluster is needed: nothing here starts one)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg

from raypachy.pfs.metadata.postgres.schema import LATEST
from raypachy.pfs.metadata.sqlite.schema import LATEST as SQLITE_LATEST
from tests.conftest import RAYPACHY, free_port
from tests.pg_server import PgServer


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "RAYPACHY_HOME": str(home), **env}
    full.pop("RAYPACHY_METADATA", None)
    full.update(env)
    return subprocess.run([RAYPACHY, *args], env=full, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def _has_schema(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regnamespace('raypachy')").fetchone() != (None,)


def test_migrate_shows_then_applies_the_postgres_migrations(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    shown = pg_url.replace(pg_server.password, "***")
    dry = _cli(tmp_path, "migrate", "--dry-run", "--metadata", pg_url)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == f"metadata store: {shown}"
    assert f"{LATEST} migration" in dry.stdout and "pending" in dry.stdout
    assert pg_server.password not in dry.stdout + dry.stderr
    assert not _has_schema(pg_url)  # a dry run changes nothing
    done = _cli(tmp_path, "migrate", RAYPACHY_METADATA=pg_url)  # the variable works as well
    assert done.returncode == 0, done.stderr
    assert "applied now" in done.stdout and f"schema is at version {LATEST}" in done.stdout
    assert _has_schema(pg_url)
    again = _cli(tmp_path, "migrate", "--dry-run", RAYPACHY_METADATA=pg_url)
    assert again.returncode == 0 and "pending" not in again.stdout
    assert f"the schema is up to date (version {LATEST})" in again.stdout


def test_migrate_on_the_default_sqlite_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dry = _cli(home, "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == f"metadata store: {home / 'metadata.db'}"
    assert dry.stdout.count("pending") == SQLITE_LATEST + 1  # each, and the summary
    assert not (home / "metadata.db").exists()
    done = _cli(home, "migrate")
    assert done.returncode == 0 and f"schema is at version {SQLITE_LATEST}" in done.stdout
    assert (home / "metadata.db").exists()


def test_up_and_migrate_refuse_a_bad_or_unreachable_store_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()  # nothing listens there
    cases = [
        (("up", "--metadata", f"postgresql://me:hunter22@127.0.0.1:{port}/db"),
         f"error: cannot open the metadata database postgresql://me:***@127.0.0.1:{port}/db: "),
        (("serve", "--metadata", f"postgresql://me:hunter22@127.0.0.1:{port}/db"),
         "Connection refused"),
        (("up", "--metadata", "postgresql://me:hunter22@127.0.0.1:nope/db"),
         "error: invalid metadata store URL postgresql://me:***@127.0.0.1:nope/db: port"),
        (("migrate", "--metadata", "mongodb://me:hunter22@127.0.0.1/db"),
         "error: metadata store mongodb://me:***@127.0.0.1/db: mongodb:// is not supported"),
    ]  # fmt: skip
    for args, says in cases:
        done = _cli(home, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
        assert "hunter22" not in done.stderr and "Traceback" not in done.stderr
    assert not (home / "cluster.json").exists()  # nothing was started
