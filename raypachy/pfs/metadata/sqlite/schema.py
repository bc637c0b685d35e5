"""The SQLite schema as numbered migrations, applied once per database when it is opened.

``schema_migrations`` records which migrations a database has. Migration 1 is every table
raypachy had before the schema was numbered, created only where missing, so a database
made by an older raypachy opens unchanged. Each later migration must also be idempotent
(a column added only if missing): two processes may open one database at the same time,
and they take turns under the write lock. A database from a newer raypachy is refused.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from raypachy.errors import BackendError
from raypachy.pfs.metadata.rows import BACKFILL_DATUM_GONE

_PFS_TABLES = (
    """CREATE TABLE IF NOT EXISTS repos (
        name TEXT PRIMARY KEY,
        created REAL NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE IF NOT EXISTS branches (
        repo TEXT NOT NULL,
        name TEXT NOT NULL,
        head TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (repo, name)
    )""",
    """CREATE TABLE IF NOT EXISTS commits (
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
    )""",
    "CREATE INDEX IF NOT EXISTS commits_by_id ON commits (id)",
    "CREATE INDEX IF NOT EXISTS commits_by_parent ON commits (repo, parent)",
    """CREATE TABLE IF NOT EXISTS provenance (
        repo TEXT NOT NULL,
        id TEXT NOT NULL,
        in_repo TEXT NOT NULL,
        in_id TEXT NOT NULL,
        PRIMARY KEY (repo, id, in_repo, in_id)
    )""",
    "CREATE INDEX IF NOT EXISTS provenance_by_input ON provenance (in_repo, in_id)",
    """CREATE TABLE IF NOT EXISTS repo_writers (
        repo TEXT PRIMARY KEY,
        writer TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started REAL NOT NULL,
        heartbeat REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS locks (
        name TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        acquired REAL NOT NULL,
        heartbeat REAL NOT NULL
    )""",
)

_PPS_TABLES = (
    """CREATE TABLE IF NOT EXISTS pipelines (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        salt TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS pipeline_versions (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        spec TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS jobs (
        pipeline TEXT NOT NULL,
        id TEXT NOT NULL,
        version TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        inputs TEXT NOT NULL,
        output_repo TEXT NOT NULL,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        total INTEGER NOT NULL DEFAULT 0,
        processed INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        recovered INTEGER NOT NULL DEFAULT 0,
        seq INTEGER NOT NULL,
        PRIMARY KEY (pipeline, id)
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_by_id ON jobs (id)",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (pipeline, state, seq)",
    """CREATE TABLE IF NOT EXISTS job_datums (
        pipeline TEXT NOT NULL,
        job TEXT NOT NULL,
        datum TEXT NOT NULL,
        state TEXT NOT NULL,
        hash TEXT NOT NULL,
        inputs TEXT NOT NULL,
        outputs TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT NOT NULL,
        duration REAL NOT NULL,
        PRIMARY KEY (pipeline, job, datum)
    )""",
    """CREATE TABLE IF NOT EXISTS job_batches (
        pipeline TEXT NOT NULL,
        job TEXT NOT NULL,
        layer TEXT,
        rows INTEGER NOT NULL,
        results TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS job_batches_by_job ON job_batches (pipeline, job)",
    """CREATE TABLE IF NOT EXISTS datum_restarts (
        pipeline TEXT NOT NULL,
        job TEXT NOT NULL,
        datum TEXT NOT NULL,
        requested REAL NOT NULL,
        PRIMARY KEY (pipeline, job, datum)
    )""",
    """CREATE TABLE IF NOT EXISTS datum_state (
        pipeline TEXT NOT NULL,
        datum TEXT NOT NULL,
        hash TEXT NOT NULL,
        outputs TEXT NOT NULL,
        job TEXT NOT NULL,
        PRIMARY KEY (pipeline, datum)
    )""",
)


def _baseline(conn: sqlite3.Connection) -> None:
    for statement in _PFS_TABLES + _PPS_TABLES:
        conn.execute(statement)


def add_column(conn: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    """Add a column unless the table has it (for migrations after the first)."""
    if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _bounded_leases_and_code_pins(conn: sqlite3.Connection) -> None:
    add_column(conn, "leases", "expires", "REAL")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS code_pins (
            code TEXT PRIMARY KEY,
            pinned REAL NOT NULL
        )"""
    )


def _object_metadata(conn: sqlite3.Connection) -> None:
    conn.execute(_OBJECT_METADATA)


#: Users' key-value metadata of repos, branches and commits, and branch triggers: one JSON
#: object per (kind, repo, name); a repo's own row has the name ''.
_OBJECT_METADATA = """CREATE TABLE IF NOT EXISTS object_metadata (
    kind TEXT NOT NULL,
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, repo, name)
)"""


def _auth(conn: sqlite3.Connection) -> None:
    from raypachy.pfs.metadata.sqlite.auth_tables import TABLES

    for statement in TABLES:
        conn.execute(statement)


def _transactions(conn: sqlite3.Connection) -> None:
    from raypachy.pfs.metadata.sqlite.txn_tables import TABLE

    conn.execute(TABLE)


def _audit_outcomes(conn: sqlite3.Connection) -> None:
    add_column(conn, "audit_log", "outcome", "TEXT NOT NULL DEFAULT ''")


#: The datums a job dropped because their input went away. With the processed and failed
#: rows of ``job_datums`` they are each datum's history, from which a job's skipped datums
#: are derived instead of being written one row each.
DATUM_GONE = """CREATE TABLE IF NOT EXISTS datum_gone (
    pipeline TEXT NOT NULL,
    job TEXT NOT NULL,
    datum TEXT NOT NULL,
    PRIMARY KEY (pipeline, job, datum)
)"""


def _datum_gone(conn: sqlite3.Connection) -> None:
    conn.execute(DATUM_GONE)
    conn.execute("CREATE INDEX IF NOT EXISTS job_datums_by_datum ON job_datums (pipeline, datum)")
    conn.execute(BACKFILL_DATUM_GONE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


#: Append only: a released migration never changes (its number is in users' databases).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "repos, branches, commits, provenance, leases, locks, pipelines, jobs, datums, checkpoints",
        _baseline,
    ),
    Migration(
        2,
        "leases.expires (leases of API callers end); code_pins (uploaded code waiting "
        "for its pipeline)",
        _bounded_leases_and_code_pins,
    ),
    Migration(
        3,
        "object_metadata (key-value metadata of repos, branches and commits; branch triggers)",
        _object_metadata,
    ),
    Migration(4, "auth: activation, hashed tokens, role bindings, audit log", _auth),
    Migration(5, "transactions (operations recorded until `finish transaction`)", _transactions),
    Migration(6, "audit_log.outcome (how each audited mutation ended)", _audit_outcomes),
    Migration(
        7,
        "datum_gone (datums a job dropped); skipped datums are no longer written one row each",
        _datum_gone,
    ),
)
LATEST = MIGRATIONS[-1].version

_VERSIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied REAL NOT NULL
)"""


def schema_version(conn: sqlite3.Connection) -> int:
    """The newest migration the database has (0: none, a new or pre-numbering database)."""
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
        return 0
    return int(row[0] or 0)


def applied(conn: sqlite3.Connection) -> dict[int, float]:
    """The migrations this database has, with when each was applied."""
    try:
        rows = conn.execute("SELECT version, applied FROM schema_migrations").fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
        return {}
    return {int(v): float(a) for v, a in rows}


def pending(conn: sqlite3.Connection, path: str) -> list[Migration]:
    """The migrations this database lacks; refuses a database of a newer raypachy."""
    current = schema_version(conn)
    if current > LATEST:
        raise BackendError(
            f"the metadata database {path} has schema version {current}, newer than this "
            f"raypachy knows ({LATEST}): upgrade raypachy to open it"
        )
    return [m for m in MIGRATIONS if m.version > current]


def migrate(conn: sqlite3.Connection, path: str) -> list[int]:
    """Apply the missing migrations in one write transaction; returns their numbers."""
    if not pending(conn, path):
        return []  # the common case: no write lock taken
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_VERSIONS_TABLE)
        todo = pending(conn, path)  # again, under the lock: another process may have done it
        for m in todo:
            m.apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied) VALUES (?, ?, ?)",
                (m.version, m.description, time.time()),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return [m.version for m in todo]
