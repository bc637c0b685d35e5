"""The pipeline tables of the metadata store: pipelines, versions, jobs and datums.

They live in the same database as PFS so that a job and its output commit change in one
transaction. Plain SQL, as in ``raypachy.pfs.metadata``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from raypachy.pfs.metadata import MetadataStore
from raypachy.pps.model import JobState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pipelines (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    salt TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS jobs (
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
);
CREATE INDEX IF NOT EXISTS jobs_by_id ON jobs (id);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (pipeline, state, seq);
CREATE TABLE IF NOT EXISTS job_datums (
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
);
CREATE TABLE IF NOT EXISTS job_batches (
    pipeline TEXT NOT NULL,
    job TEXT NOT NULL,
    layer TEXT,
    rows INTEGER NOT NULL,
    results TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_batches_by_job ON job_batches (pipeline, job);
CREATE TABLE IF NOT EXISTS datum_restarts (
    pipeline TEXT NOT NULL,
    job TEXT NOT NULL,
    datum TEXT NOT NULL,
    requested REAL NOT NULL,
    PRIMARY KEY (pipeline, job, datum)
);
CREATE TABLE IF NOT EXISTS code_pins (
    code TEXT PRIMARY KEY,
    pinned REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS datum_state (
    pipeline TEXT NOT NULL,
    datum TEXT NOT NULL,
    hash TEXT NOT NULL,
    outputs TEXT NOT NULL,
    job TEXT NOT NULL,
    PRIMARY KEY (pipeline, datum)
);
"""


def init_schema(meta: MetadataStore) -> None:
    meta._conn().executescript(_SCHEMA)


@dataclass(frozen=True, slots=True)
class PipelineRow:
    name: str
    version: str
    spec: dict[str, Any]
    state: str
    salt: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class JobRow:
    pipeline: str
    id: str
    version: str
    state: str
    reason: str
    inputs: list[dict[str, str]]  # {name, repo, branch, id}
    output_repo: str
    created: float
    started: float | None
    finished: float | None
    counts: tuple[int, int, int, int, int]  # total, processed, skipped, failed, recovered
    seq: int


_JOB_COLS = (
    "pipeline, id, version, state, reason, inputs, output_repo, created, started, finished, "
    "total, processed, skipped, failed, recovered, seq"
)


def _job(r: Any) -> JobRow:
    return JobRow(
        r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], r[9],
        (r[10], r[11], r[12], r[13], r[14]), r[15],
    )  # fmt: skip


class PpsTx:
    """The pipeline statements of one transaction (shares the PFS connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    # --- pipelines ---------------------------------------------------------------------

    def pipeline(self, name: str) -> PipelineRow | None:
        r = self.c.execute(
            "SELECT name, version, spec, state, salt, created, updated FROM pipelines "
            "WHERE name = ?",
            (name,),
        ).fetchone()
        return None if r is None else PipelineRow(r[0], r[1], json.loads(r[2]), *r[3:])

    def pipelines(self) -> list[PipelineRow]:
        rows = self.c.execute(
            "SELECT name, version, spec, state, salt, created, updated FROM pipelines ORDER BY name"
        )
        return [PipelineRow(r[0], r[1], json.loads(r[2]), *r[3:]) for r in rows]

    def put_pipeline(self, row: PipelineRow) -> None:
        self.c.execute("DELETE FROM pipelines WHERE name = ?", (row.name,))
        self.c.execute(
            "INSERT INTO pipelines (name, version, spec, state, salt, created, updated) "
            "VALUES (?,?,?,?,?,?,?)",
            (row.name, row.version, json.dumps(row.spec), row.state, row.salt, row.created,
             row.updated),
        )  # fmt: skip
        self.c.execute(
            "INSERT OR IGNORE INTO pipeline_versions (name, version, spec, created) "
            "VALUES (?,?,?,?)",
            (row.name, row.version, json.dumps(row.spec), row.updated),
        )

    def version_spec(self, name: str, version: str) -> dict[str, Any] | None:
        r = self.c.execute(
            "SELECT spec FROM pipeline_versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def all_version_specs(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.c.execute("SELECT spec FROM pipeline_versions")]

    def versions(self, name: str) -> list[tuple[str, dict[str, Any], float, int]]:
        """Every version of a pipeline, oldest first: (version, spec, created, jobs run)."""
        rows = self.c.execute(
            "SELECT v.version, v.spec, v.created, "
            "(SELECT COUNT(*) FROM jobs j WHERE j.pipeline = v.name AND j.version = v.version) "
            "FROM pipeline_versions v WHERE v.name = ? ORDER BY v.created, v.rowid",
            (name,),
        )
        return [(r[0], json.loads(r[1]), r[2], r[3]) for r in rows]

    def pin_code(self, code: str, now: float, keep_s: float) -> None:
        """Keep uploaded code until a pipeline uses it, or for ``keep_s`` seconds."""
        self.c.execute("DELETE FROM code_pins WHERE pinned < ?", (now - keep_s,))
        self.c.execute("INSERT OR REPLACE INTO code_pins (code, pinned) VALUES (?, ?)", (code, now))

    def pinned_code(self, since: float) -> list[str]:
        return [
            r[0] for r in self.c.execute("SELECT code FROM code_pins WHERE pinned >= ?", (since,))
        ]

    def delete_pipeline(self, name: str) -> None:
        for table, col in (
            ("pipelines", "name"), ("pipeline_versions", "name"), ("jobs", "pipeline"),
            ("job_datums", "pipeline"), ("datum_state", "pipeline"), ("job_batches", "pipeline"),
            ("datum_restarts", "pipeline"),
        ):  # fmt: skip
            self.c.execute(f"DELETE FROM {table} WHERE {col} = ?", (name,))

    # --- jobs ----------------------------------------------------------------------------

    def job(self, pipeline: str, job_id: str) -> JobRow | None:
        r = self.c.execute(
            f"SELECT {_JOB_COLS} FROM jobs WHERE pipeline = ? AND id = ?", (pipeline, job_id)
        ).fetchone()
        return None if r is None else _job(r)

    def jobs(
        self, pipeline: str | None = None, job_id: str | None = None,
        before_seq: int | None = None, limit: int | None = None,
    ) -> list[JobRow]:  # fmt: skip
        """Newest first; ``before_seq`` continues after the job with that ``seq``."""
        where: list[str] = []
        args: list[Any] = []
        if pipeline is not None:
            where.append("pipeline = ?")
            args.append(pipeline)
        if job_id is not None:
            where.append("id = ?")
            args.append(job_id)
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        sql = f"SELECT {_JOB_COLS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_job(r) for r in self.c.execute(sql, args)]

    def recent_jobs(self, limit: int, ended_since: float) -> list[JobRow]:
        """The ``limit`` newest jobs, plus every job still running or ended since then."""
        rows = self.c.execute(
            f"SELECT {_JOB_COLS} FROM jobs "
            "WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM jobs) - ? "
            "OR state IN ('created', 'starting', 'running', 'finishing') OR finished >= ? "
            "ORDER BY seq DESC",
            (limit, ended_since),
        )
        return [_job(r) for r in rows]

    def active_jobs(self, pipeline: str) -> list[JobRow]:
        rows = self.c.execute(
            f"SELECT {_JOB_COLS} FROM jobs WHERE pipeline = ? AND state IN "
            "('created', 'starting', 'running', 'finishing') ORDER BY seq",
            (pipeline,),
        )
        return [_job(r) for r in rows]

    def insert_job(self, row: JobRow) -> None:
        seq = self.c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
        self.c.execute(
            f"INSERT INTO jobs ({_JOB_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (row.pipeline, row.id, row.version, row.state, row.reason, json.dumps(row.inputs),
             row.output_repo, row.created, row.started, row.finished, *row.counts, seq),
        )  # fmt: skip

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None:
        if "counts" in fields:
            counts = fields.pop("counts")
            fields.update(
                zip(("total", "processed", "skipped", "failed", "recovered"), counts, strict=True)
            )
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.c.execute(
            f"UPDATE jobs SET {sets} WHERE pipeline = ? AND id = ?",
            (*fields.values(), pipeline, job_id),
        )
        if "state" in fields and JobState(fields["state"]).terminal:  # an ended job resumes no more
            self.c.execute(
                "DELETE FROM job_batches WHERE pipeline = ? AND job = ?", (pipeline, job_id)
            )

    # --- checkpoints: the batches a running job has finished, kept across crashes --------

    def add_checkpoint(
        self, pipeline: str, job: str, layer: tuple[str, int] | None, results: list[list[Any]]
    ) -> None:
        self.c.execute(
            "INSERT INTO job_batches (pipeline, job, layer, rows, results) VALUES (?,?,?,?,?)",
            (pipeline, job, layer and layer[0], layer[1] if layer else 0, json.dumps(results)),
        )

    def checkpoints(
        self, pipeline: str, job: str
    ) -> list[tuple[tuple[str, int] | None, list[list[Any]]]]:
        rows = self.c.execute(
            "SELECT layer, rows, results FROM job_batches WHERE pipeline = ? AND job = ? "
            "ORDER BY rowid",
            (pipeline, job),
        )
        return [(None if r[0] is None else (r[0], r[1]), json.loads(r[2])) for r in rows]

    def checkpoint_manifests(self) -> set[str]:
        rows = self.c.execute("SELECT layer FROM job_batches WHERE layer IS NOT NULL")
        return {r[0] for r in rows}

    # --- restart requests for datums of running jobs ------------------------------------

    def request_restart(self, pipeline: str, job: str, datum: str, now: float) -> None:
        self.c.execute(
            "INSERT OR REPLACE INTO datum_restarts (pipeline, job, datum, requested) "
            "VALUES (?,?,?,?)",
            (pipeline, job, datum, now),
        )

    def has_restarts(self, pipeline: str, job: str) -> bool:
        row = self.c.execute(
            "SELECT 1 FROM datum_restarts WHERE pipeline = ? AND job = ? LIMIT 1", (pipeline, job)
        ).fetchone()
        return row is not None

    def take_restarts(self, pipeline: str, job: str) -> list[str]:
        """The datums asked to restart in this job (each request is handed out once)."""
        rows = self.c.execute(
            "SELECT datum FROM datum_restarts WHERE pipeline = ? AND job = ? ORDER BY requested",
            (pipeline, job),
        ).fetchall()
        self.c.execute("DELETE FROM datum_restarts WHERE pipeline = ? AND job = ?", (pipeline, job))
        return [r[0] for r in rows]

    # --- datums ----------------------------------------------------------------------------

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]:
        rows = self.c.execute(
            "SELECT datum, hash, outputs FROM datum_state WHERE pipeline = ?", (pipeline,)
        )
        return {r[0]: (r[1], json.loads(r[2])) for r in rows}

    def replace_datum_states(
        self, pipeline: str, job: str, removed: list[str], upserts: dict[str, tuple[str, list[str]]]
    ) -> None:
        self.c.executemany(
            "DELETE FROM datum_state WHERE pipeline = ? AND datum = ?",
            [(pipeline, d) for d in removed],
        )
        self.c.executemany(
            "INSERT OR REPLACE INTO datum_state (pipeline, datum, hash, outputs, job) "
            "VALUES (?,?,?,?,?)",
            [(pipeline, d, h, json.dumps(o), job) for d, (h, o) in upserts.items()],
        )

    def reset_datum_states(self, pipeline: str, job: str | None) -> None:
        """The datum records become those the job ``job`` left (none without a job): what its
        output commit holds."""
        self.c.execute("DELETE FROM datum_state WHERE pipeline = ?", (pipeline,))
        if job is not None:
            self.c.execute(
                "INSERT INTO datum_state (pipeline, datum, hash, outputs, job) "
                "SELECT pipeline, datum, hash, outputs, job FROM job_datums "
                "WHERE pipeline = ? AND job = ? AND state IN ('success', 'skipped')",
                (pipeline, job),
            )

    def delete_job(self, pipeline: str, job: str) -> None:
        for table, col in (("jobs", "id"), ("job_datums", "job"), ("job_batches", "job")):
            self.c.execute(f"DELETE FROM {table} WHERE pipeline = ? AND {col} = ?", (pipeline, job))

    def insert_job_datums(self, pipeline: str, job: str, rows: list[tuple[Any, ...]]) -> None:
        """rows: (datum, state, hash, inputs json, outputs json, attempts, error, duration)."""
        self.c.executemany(
            "INSERT OR REPLACE INTO job_datums (pipeline, job, datum, state, hash, inputs, "
            "outputs, attempts, error, duration) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(pipeline, job, *r) for r in rows],
        )

    def job_datums(
        self, pipeline: str, job: str, datum: str | None = None,
        after: str | None = None, limit: int | None = None,
    ) -> list[tuple[Any, ...]]:  # fmt: skip
        sql = (
            "SELECT datum, state, hash, inputs, outputs, attempts, error, duration FROM job_datums "
            "WHERE pipeline = ? AND job = ?"
        )
        args: list[Any] = [pipeline, job]
        if datum is not None:
            sql += " AND datum = ?"
            args.append(datum)
        if after is not None:
            sql += " AND datum > ?"
            args.append(after)
        sql += " ORDER BY datum"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return list(self.c.execute(sql, args))

    def datum_producing(self, pipeline: str, path: str) -> tuple[str, str] | None:
        """(job, datum) of the current datum whose outputs include ``path``."""
        rows = self.c.execute(
            "SELECT job, datum, outputs FROM datum_state WHERE pipeline = ?", (pipeline,)
        )
        for job, datum, outputs in rows:
            if path in json.loads(outputs):
                return job, datum
        return None
