"""The metadata store: repos, branches, commits, provenance, writer leases and locks.

SQLite in WAL mode now; the SQL is kept plain so that a PostgreSQL store can follow.
Every write runs in one ``BEGIN IMMEDIATE`` transaction, so moving a branch is a true
compare-and-swap even between processes. Connections are per thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from raypachy._private import private_file
from raypachy.errors import BackendError
from raypachy.pfs.changes import Changes
from raypachy.pfs.model import CommitRef
from raypachy.pfs.records import CommitRecord, layers_from_json, layers_to_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS branches (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    head TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (repo, name)
);
CREATE TABLE IF NOT EXISTS commits (
    repo TEXT NOT NULL,
    id TEXT NOT NULL,
    branch TEXT,
    parent TEXT,
    origin TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    finished REAL,
    error TEXT,
    size_bytes INTEGER,
    file_count INTEGER,
    layers TEXT NOT NULL,
    staged TEXT NOT NULL,
    PRIMARY KEY (repo, id)
);
CREATE INDEX IF NOT EXISTS commits_by_id ON commits (id);
CREATE INDEX IF NOT EXISTS commits_by_parent ON commits (repo, parent);
CREATE TABLE IF NOT EXISTS provenance (
    repo TEXT NOT NULL,
    id TEXT NOT NULL,
    in_repo TEXT NOT NULL,
    in_id TEXT NOT NULL,
    PRIMARY KEY (repo, id, in_repo, in_id)
);
CREATE INDEX IF NOT EXISTS provenance_by_input ON provenance (in_repo, in_id);
CREATE TABLE IF NOT EXISTS repo_writers (
    repo TEXT PRIMARY KEY,
    writer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    expires REAL
);
CREATE TABLE IF NOT EXISTS locks (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired REAL NOT NULL,
    heartbeat REAL NOT NULL
);
"""

_COMMIT_COLS = (
    "repo, id, branch, parent, origin, description, started, finished, error, "
    "size_bytes, file_count, layers, staged"
)


def _commit(row: Any) -> CommitRecord:
    return CommitRecord(
        repo=row[0],
        id=row[1],
        branch=row[2],
        parent=row[3],
        origin=row[4],
        description=row[5],
        started=row[6],
        finished=row[7],
        error=row[8],
        size_bytes=row[9],
        file_count=row[10],
        layers=layers_from_json(row[11]),
        staged=layers_from_json(row[12]),
    )


class Tx:
    """The statements of one transaction; obtained from ``MetadataStore.write/read``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    # --- repos ---------------------------------------------------------------------

    def repo(self, name: str) -> tuple[str, float, str] | None:
        row = self.c.execute(
            "SELECT name, created, description FROM repos WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def repos(self) -> list[tuple[str, float, str]]:
        rows = self.c.execute("SELECT name, created, description FROM repos ORDER BY name")
        return [(r[0], r[1], r[2]) for r in rows]

    def insert_repo(self, name: str, created: float, description: str) -> None:
        self.c.execute(
            "INSERT INTO repos (name, created, description) VALUES (?, ?, ?)",
            (name, created, description),
        )

    def update_repo(self, name: str, description: str) -> None:
        self.c.execute("UPDATE repos SET description = ? WHERE name = ?", (description, name))

    def delete_repo(self, name: str) -> None:
        for table in ("branches", "commits", "provenance", "repo_writers"):
            self.c.execute(f"DELETE FROM {table} WHERE repo = ?", (name,))
        self.c.execute("DELETE FROM repos WHERE name = ?", (name,))

    def repo_writer(self, name: str) -> str | None:
        """Who alone writes this repo (say "pipeline p"), or None for a user repo."""
        row = self.c.execute("SELECT writer FROM repo_writers WHERE repo = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_repo_writer(self, name: str, writer: str | None) -> None:
        self.c.execute("DELETE FROM repo_writers WHERE repo = ?", (name,))
        if writer is not None:
            self.c.execute("INSERT INTO repo_writers (repo, writer) VALUES (?, ?)", (name, writer))

    # --- branches ------------------------------------------------------------------

    def branch(self, repo: str, name: str) -> tuple[str, str, str | None] | None:
        row = self.c.execute(
            "SELECT repo, name, head FROM branches WHERE repo = ? AND name = ?", (repo, name)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def branches(self, repo: str) -> list[tuple[str, str, str | None]]:
        rows = self.c.execute(
            "SELECT repo, name, head FROM branches WHERE repo = ? ORDER BY name", (repo,)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def branches_at(self, repo: str, head: str) -> list[str]:
        rows = self.c.execute(
            "SELECT name FROM branches WHERE repo = ? AND head = ? ORDER BY name", (repo, head)
        )
        return [r[0] for r in rows]

    def insert_branch(self, repo: str, name: str, head: str | None, created: float) -> None:
        self.c.execute(
            "INSERT INTO branches (repo, name, head, created) VALUES (?, ?, ?, ?)",
            (repo, name, head, created),
        )

    def move_branch(self, repo: str, name: str, head: str | None, expected: str | None) -> bool:
        """Compare-and-swap: move the branch only if it still points at ``expected``."""
        cur = self.c.execute(
            "UPDATE branches SET head = ? WHERE repo = ? AND name = ? AND "
            "(head = ? OR (head IS NULL AND ? IS NULL))",
            (head, repo, name, expected, expected),
        )
        return cur.rowcount == 1

    def delete_branch(self, repo: str, name: str) -> None:
        self.c.execute("DELETE FROM branches WHERE repo = ? AND name = ?", (repo, name))

    # --- commits -------------------------------------------------------------------

    def commit(self, repo: str, commit_id: str) -> CommitRecord | None:
        row = self.c.execute(
            f"SELECT {_COMMIT_COLS} FROM commits WHERE repo = ? AND id = ?", (repo, commit_id)
        ).fetchone()
        return None if row is None else self._with_provenance(_commit(row))

    def commits(
        self,
        repo: str | None = None,
        commit_id: str | None = None,
        after: tuple[float, int] | None = None,
        limit: int | None = None,
    ) -> list[CommitRecord]:
        """Newest first; ``after`` is a ``commit_position`` to continue from."""
        sql = f"SELECT {_COMMIT_COLS} FROM commits"
        where: list[str] = []
        args: list[Any] = []
        if repo is not None:
            where.append("repo = ?")
            args.append(repo)
        if commit_id is not None:
            where.append("id = ?")
            args.append(commit_id)
        if after is not None:
            where.append("(started < ? OR (started = ? AND rowid < ?))")
            args += [after[0], after[0], after[1]]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._with_provenance(_commit(r)) for r in self.c.execute(sql, args)]

    def commit_position(self, repo: str | None, commit_id: str) -> tuple[float, int] | None:
        """Where a commit sorts in ``commits`` (any repo's, when ``repo`` is None)."""
        sql = "SELECT started, rowid FROM commits WHERE id = ?"
        args = [commit_id]
        if repo:
            sql += " AND repo = ?"
            args.append(repo)
        row = self.c.execute(sql + " LIMIT 1", args).fetchone()
        return None if row is None else (row[0], row[1])

    def children(self, repo: str, commit_id: str) -> list[str]:
        rows = self.c.execute(
            "SELECT id FROM commits WHERE repo = ? AND parent = ? ORDER BY started",
            (repo, commit_id),
        )
        return [r[0] for r in rows]

    def insert_commit(self, rec: CommitRecord) -> None:
        self.c.execute(
            f"INSERT INTO commits ({_COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.repo, rec.id, rec.branch, rec.parent, rec.origin, rec.description,
                rec.started, rec.finished, rec.error, rec.size_bytes, rec.file_count,
                layers_to_json(rec.layers), layers_to_json(rec.staged),
            ),
        )  # fmt: skip
        for p in rec.provenance:
            self.c.execute(
                "INSERT OR IGNORE INTO provenance (repo, id, in_repo, in_id) VALUES (?,?,?,?)",
                (rec.repo, rec.id, p.repo, p.id),
            )

    def update_open_commit(self, before: CommitRecord, after: CommitRecord) -> bool:
        """Replace an open commit's row if nobody changed it since ``before`` was read."""
        cur = self.c.execute(
            "UPDATE commits SET finished = ?, error = ?, size_bytes = ?, file_count = ?, "
            "layers = ?, staged = ?, description = ? "
            "WHERE repo = ? AND id = ? AND finished IS NULL AND staged = ?",
            (
                after.finished, after.error, after.size_bytes, after.file_count,
                layers_to_json(after.layers), layers_to_json(after.staged), after.description,
                before.repo, before.id, layers_to_json(before.staged),
            ),
        )  # fmt: skip
        return cur.rowcount == 1

    def set_parent(self, repo: str, commit_id: str, parent: str | None) -> None:
        self.c.execute(
            "UPDATE commits SET parent = ? WHERE repo = ? AND id = ?", (parent, repo, commit_id)
        )

    def drop_provenance(self, repo: str, commit_id: str, input_ref: CommitRef) -> None:
        self.c.execute(
            "DELETE FROM provenance WHERE repo = ? AND id = ? AND in_repo = ? AND in_id = ?",
            (repo, commit_id, input_ref.repo, input_ref.id),
        )

    def set_layers(self, repo: str, commit_id: str, layers_json: str, expected_json: str) -> bool:
        cur = self.c.execute(
            "UPDATE commits SET layers = ? WHERE repo = ? AND id = ? AND layers = ?",
            (layers_json, repo, commit_id, expected_json),
        )
        return cur.rowcount == 1

    def delete_commit(self, repo: str, commit_id: str) -> None:
        self.c.execute("DELETE FROM commits WHERE repo = ? AND id = ?", (repo, commit_id))
        self.c.execute("DELETE FROM provenance WHERE repo = ? AND id = ?", (repo, commit_id))

    def subvenance(self, repo: str, commit_id: str) -> list[CommitRef]:
        """Commits computed from this one (the other way round from provenance)."""
        rows = self.c.execute(
            "SELECT repo, id FROM provenance WHERE in_repo = ? AND in_id = ? ORDER BY repo",
            (repo, commit_id),
        )
        return [CommitRef(r[0], r[1]) for r in rows]

    def all_layer_lists(self) -> Iterator[tuple[str, str]]:
        yield from self.c.execute("SELECT layers, staged FROM commits")

    def _with_provenance(self, rec: CommitRecord) -> CommitRecord:
        rows = self.c.execute(
            "SELECT in_repo, in_id FROM provenance WHERE repo = ? AND id = ? ORDER BY in_repo",
            (rec.repo, rec.id),
        )
        prov = tuple(CommitRef(r[0], r[1]) for r in rows)
        return rec.with_provenance(prov) if prov else rec

    # --- leases and locks -----------------------------------------------------------

    def leases(self) -> list[tuple[str, str, int, float, float, float | None]]:
        rows = self.c.execute("SELECT id, host, pid, started, heartbeat, expires FROM leases")
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def lease(self, lease_id: str) -> tuple[str, int, float, float | None] | None:
        """(host, pid, heartbeat, expires) of one lease, or None."""
        row = self.c.execute(
            "SELECT host, pid, heartbeat, expires FROM leases WHERE id = ?", (lease_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def insert_lease(
        self, lease_id: str, host: str, pid: int, now: float, expires: float | None = None
    ) -> None:
        self.c.execute(
            "INSERT INTO leases (id, host, pid, started, heartbeat, expires) VALUES (?,?,?,?,?,?)",
            (lease_id, host, pid, now, now, expires),
        )

    def heartbeat_lease(self, lease_id: str, now: float) -> bool:
        cur = self.c.execute("UPDATE leases SET heartbeat = ? WHERE id = ?", (now, lease_id))
        return cur.rowcount == 1

    def delete_lease(self, lease_id: str) -> None:
        self.c.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def lock(self, name: str) -> tuple[str, int, float, float] | None:
        """(host, pid, acquired, heartbeat) of a named lock, or None."""
        row = self.c.execute(
            "SELECT host, pid, acquired, heartbeat FROM locks WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def take_lock(self, name: str, host: str, pid: int, now: float) -> None:
        self.c.execute("DELETE FROM locks WHERE name = ?", (name,))
        self.c.execute(
            "INSERT INTO locks (name, host, pid, acquired, heartbeat) VALUES (?,?,?,?,?)",
            (name, host, pid, now, now),
        )

    def renew_lock(self, name: str, host: str, pid: int, acquired: float, now: float) -> bool:
        """Refresh a lock's heartbeat if this holder (host, pid, acquired) still has it."""
        cur = self.c.execute(
            "UPDATE locks SET heartbeat = ? WHERE name = ? AND host = ? AND pid = ? "
            "AND acquired = ?",
            (now, name, host, pid, acquired),
        )
        return cur.rowcount == 1

    def break_lock(self, name: str) -> None:
        """Remove a lock whatever its holder (one that stopped renewing it)."""
        self.c.execute("DELETE FROM locks WHERE name = ?", (name,))

    def release_lock(self, name: str, host: str, pid: int, acquired: float) -> None:
        self.c.execute(
            "DELETE FROM locks WHERE name = ? AND host = ? AND pid = ? AND acquired = ?",
            (name, host, pid, acquired),
        )


def _add_column(conn: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    """Bring a table made by an older version up to date (idempotent, race-safe)."""
    if column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
        return
    try:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    except sqlite3.OperationalError as e:
        if "duplicate column" not in str(e):
            raise


class MetadataStore:
    """SQLite metadata; safe to share between threads and processes."""

    def __init__(self, path: str, before_write: Callable[[], None] | None = None) -> None:
        """``before_write`` runs before each write transaction and may refuse it."""
        self.path = path
        self.before_write = before_write
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        private_file(path)  # SQLite gives its -wal and -shm files the database's mode
        self._local = threading.local()
        conn = self._conn()
        conn.executescript(_SCHEMA)
        _add_column(conn, "leases", "expires", "REAL")
        self.changes = Changes()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction; it commits when the block ends without an error."""
        if self.before_write is not None:
            self.before_write()
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self.changes.bump()  # wakes the waiters (commits, jobs, subscriptions)
        except sqlite3.OperationalError as e:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if "full" in str(e) or "I/O" in str(e):
                hint = "free some space" if "full" in str(e) else "check the disk"
                raise BackendError(
                    f"cannot write the metadata database {self.path}: {e}; {hint} and retry "
                    "(nothing was changed)"
                ) from e
            raise

    def wait_change(self, since: int | None, timeout: float) -> int:
        """The change counter once it differs from ``since``, or after ``timeout`` seconds."""
        return self.changes.wait(since, timeout, self._others_wrote)

    def _others_wrote(self) -> bool:
        """Whether another connection (another process) committed since this thread looked."""
        current = self._conn().execute("PRAGMA data_version").fetchone()[0]
        last = getattr(self._local, "data_version", current)
        self._local.data_version = current
        return bool(current != last)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A consistent snapshot for reads."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield Tx(conn)
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
