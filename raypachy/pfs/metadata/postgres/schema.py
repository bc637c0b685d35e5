"""The PostgreSQL schema as numbered migrations, applied when a store is opened.

Everything lives in the schema ``raypachy`` of the database (a database shared with other
applications keeps its own tables apart); ``schema_migrations`` records which migrations it
has. Migrations run in one transaction under an advisory lock, so processes opening one
database at the same time take turns and each migration is applied once. A database from a
newer raypachy is refused. The numbers are this store's own (SQLite's are separate).

Text keys and ordered text are ``COLLATE "C"``: byte order, as SQLite sorts, whatever the
database's locale. Times are seconds since the epoch as ``double precision`` (they round-trip
exactly); JSON columns are text, as the store keeps them without querying inside them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow

from raypachy.errors import BackendError
from raypachy.pfs.metadata.rows import BACKFILL_DATUM_GONE

Conn = psycopg.Connection[TupleRow]

SCHEMA = "raypachy"
# pg_advisory_xact_lock key for migrations: any fixed number ("rpchy" in ASCII)
_LOCK_KEY = 0x7270636879

T = 'TEXT COLLATE "C"'
F = "DOUBLE PRECISION"
I = "BIGINT"  # noqa: E741 (a column type, as T and F)

_BASELINE = (
    f"""CREATE TABLE repos (
        name {T} PRIMARY KEY,
        created {F} NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    )""",
    f"""CREATE TABLE branches (
        repo {T} NOT NULL,
        name {T} NOT NULL,
        head {T},
        created {F} NOT NULL,
        PRIMARY KEY (repo, name)
    )""",
    f"""CREATE TABLE commits (
        pos {I} GENERATED ALWAYS AS IDENTITY,
        repo {T} NOT NULL,
        id {T} NOT NULL,
        branch {T},
        parent {T},
        origin TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        started {F} NOT NULL,
        finished {F},
        error TEXT,
        size_bytes {I},
        file_count {I},
        layers TEXT NOT NULL,
        staged TEXT NOT NULL,
        PRIMARY KEY (repo, id)
    )""",
    "CREATE INDEX commits_by_id ON commits (id)",
    "CREATE INDEX commits_by_parent ON commits (repo, parent)",
    "CREATE INDEX commits_newest ON commits (started, pos)",
    "CREATE INDEX commits_newest_of_repo ON commits (repo, started, pos)",
    f"""CREATE TABLE provenance (
        repo {T} NOT NULL,
        id {T} NOT NULL,
        in_repo {T} NOT NULL,
        in_id {T} NOT NULL,
        PRIMARY KEY (repo, id, in_repo, in_id)
    )""",
    "CREATE INDEX provenance_by_input ON provenance (in_repo, in_id)",
    f"""CREATE TABLE repo_writers (
        repo {T} PRIMARY KEY,
        writer TEXT NOT NULL
    )""",
    f"""CREATE TABLE leases (
        id {T} PRIMARY KEY,
        host TEXT NOT NULL,
        pid {I} NOT NULL,
        started {F} NOT NULL,
        heartbeat {F} NOT NULL,
        expires {F}
    )""",
    f"""CREATE TABLE locks (
        name {T} PRIMARY KEY,
        host TEXT NOT NULL,
        pid {I} NOT NULL,
        acquired {F} NOT NULL,
        heartbeat {F} NOT NULL
    )""",
    f"""CREATE TABLE pipelines (
        name {T} PRIMARY KEY,
        version {T} NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        salt TEXT NOT NULL,
        created {F} NOT NULL,
        updated {F} NOT NULL
    )""",
    f"""CREATE TABLE pipeline_versions (
        pos {I} GENERATED ALWAYS AS IDENTITY,
        name {T} NOT NULL,
        version {T} NOT NULL,
        spec TEXT NOT NULL,
        created {F} NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    f"""CREATE TABLE jobs (
        pipeline {T} NOT NULL,
        id {T} NOT NULL,
        version {T} NOT NULL,
        state {T} NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        inputs TEXT NOT NULL,
        output_repo TEXT NOT NULL,
        created {F} NOT NULL,
        started {F},
        finished {F},
        total {I} NOT NULL DEFAULT 0,
        processed {I} NOT NULL DEFAULT 0,
        skipped {I} NOT NULL DEFAULT 0,
        failed {I} NOT NULL DEFAULT 0,
        recovered {I} NOT NULL DEFAULT 0,
        seq {I} NOT NULL,
        PRIMARY KEY (pipeline, id)
    )""",
    "CREATE INDEX jobs_by_id ON jobs (id)",
    "CREATE INDEX jobs_by_seq ON jobs (seq)",
    "CREATE INDEX jobs_by_state ON jobs (pipeline, state, seq)",
    f"""CREATE TABLE job_datums (
        pipeline {T} NOT NULL,
        job {T} NOT NULL,
        datum {T} NOT NULL,
        state TEXT NOT NULL,
        hash TEXT NOT NULL,
        inputs TEXT NOT NULL,
        outputs TEXT NOT NULL,
        attempts {I} NOT NULL,
        error TEXT NOT NULL,
        duration {F} NOT NULL,
        PRIMARY KEY (pipeline, job, datum)
    )""",
    f"""CREATE TABLE job_batches (
        pos {I} GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        pipeline {T} NOT NULL,
        job {T} NOT NULL,
        layer TEXT,
        rows {I} NOT NULL,
        results TEXT NOT NULL
    )""",
    "CREATE INDEX job_batches_by_job ON job_batches (pipeline, job)",
    f"""CREATE TABLE datum_restarts (
        pipeline {T} NOT NULL,
        job {T} NOT NULL,
        datum TEXT NOT NULL,
        requested {F} NOT NULL,
        PRIMARY KEY (pipeline, job, datum)
    )""",
    f"""CREATE TABLE datum_state (
        pipeline {T} NOT NULL,
        datum {T} NOT NULL,
        hash TEXT NOT NULL,
        outputs TEXT NOT NULL,
        job {T} NOT NULL,
        PRIMARY KEY (pipeline, datum)
    )""",
    f"""CREATE TABLE code_pins (
        code {T} PRIMARY KEY,
        pinned {F} NOT NULL
    )""",
    # One row whose update opens every write transaction: it serializes writers (as SQLite's
    # write lock does) and counts committed writes, which waiters in other processes watch.
    f"""CREATE TABLE changes (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        version {I} NOT NULL
    )""",
    "INSERT INTO changes (id, version) VALUES (1, 0)",
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_AUTH = (
    f"""CREATE TABLE auth_state (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        activated {F} NOT NULL
    )""",
    f"""CREATE TABLE auth_tokens (
        hash {T} PRIMARY KEY,
        ref {T} NOT NULL UNIQUE,
        "user" {T} NOT NULL,
        created {F} NOT NULL,
        expires {F}
    )""",
    'CREATE INDEX auth_tokens_by_user ON auth_tokens ("user")',
    f"""CREATE TABLE role_bindings (
        kind {T} NOT NULL,
        name {T} NOT NULL,
        principal {T} NOT NULL,
        role {T} NOT NULL,
        PRIMARY KEY (kind, name, principal, role)
    )""",
    "CREATE INDEX role_bindings_by_principal ON role_bindings (principal)",
    f"""CREATE TABLE audit_log (
        seq {I} GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at {F} NOT NULL,
        principal TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX audit_log_by_time ON audit_log (at)",
)

#: Append only: a released migration never changes (its number is in users' databases).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "repos, branches, commits, provenance, leases, locks, code pins, pipelines, jobs, "
        "datums, checkpoints, the change counter",
        _BASELINE,
    ),
    Migration(
        2,
        "object_metadata (key-value metadata of repos, branches and commits; branch triggers)",
        (
            f"""CREATE TABLE object_metadata (
                kind {T} NOT NULL,
                repo {T} NOT NULL,
                name {T} NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (kind, repo, name)
            )""",
        ),
    ),
    Migration(3, "auth: activation, hashed tokens, role bindings, audit log", _AUTH),
    Migration(
        4,
        "transactions (operations recorded until `finish transaction`)",
        (
            f"""CREATE TABLE transactions (
                id {T} PRIMARY KEY,
                created {F} NOT NULL,
                ops TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        5,
        "audit_log.outcome (how each audited mutation ended)",
        ("ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT ''",),
    ),
    Migration(
        6,
        "datum_gone (datums a job dropped); skipped datums are no longer written one row each",
        (
            f"""CREATE TABLE datum_gone (
                pipeline {T} NOT NULL,
                job {T} NOT NULL,
                datum {T} NOT NULL,
                PRIMARY KEY (pipeline, job, datum)
            )""",
            "CREATE INDEX job_datums_by_datum ON job_datums (pipeline, datum)",
            BACKFILL_DATUM_GONE,
        ),
    ),
)
LATEST = MIGRATIONS[-1].version

_VERSIONS_TABLE = f"""CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied {F} NOT NULL
)"""


def applied(conn: Conn) -> dict[int, float]:
    """The migrations this database has, with when each was applied."""
    found = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.schema_migrations",)).fetchone()
    if found is None or found[0] is None:
        return {}
    rows = conn.execute(f"SELECT version, applied FROM {SCHEMA}.schema_migrations").fetchall()
    return {int(v): float(a) for v, a in rows}


def pending(
    conn: Conn,
    shown: str,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[Migration]:
    """The migrations this database lacks; refuses a database of a newer raypachy."""
    have = applied(conn)
    newest = max(have, default=0)
    if newest > migrations[-1].version:
        raise BackendError(
            f"the metadata database {shown} has schema version {newest}, newer than this "
            f"raypachy knows ({migrations[-1].version}): upgrade raypachy to open it"
        )
    return [m for m in migrations if m.version not in have]


def migrate(
    conn: Conn,
    shown: str,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[int]:
    """Apply the missing migrations in one transaction; returns their numbers."""
    if not pending(conn, shown, migrations):
        return []  # the common case: no lock taken
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"SET LOCAL search_path TO {SCHEMA}")
        conn.execute(_VERSIONS_TABLE)
        todo = pending(conn, shown, migrations)  # again, under the lock: another may have
        for m in todo:
            for statement in m.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied) VALUES (%s, %s, %s)",
                (m.version, m.description, time.time()),
            )
    return [m.version for m in todo]
