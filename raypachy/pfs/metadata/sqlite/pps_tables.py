"""PPS's statements on SQLite: pipelines, versions, jobs, datums and checkpoints.

Specs, job inputs, datum inputs and outputs are JSON columns: the store keeps them, it does
not query inside them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import replace
from typing import Any

from raypachy.pfs.metadata.records import (
    CheckpointRecord,
    DatumId,
    DatumRecord,
    DatumStateRecord,
    JobId,
    JobRecord,
    PipelineRecord,
    PipelineVersion,
    PipelineVersionRecord,
)
from raypachy.pfs.metadata.rows import (
    DATUM_COLS,
    JOB_COLS,
    PIPELINE_COLS,
    checkpoint_results_json,
    checkpoint_row,
    datum_inputs_json,
    datum_row,
    job_inputs_json,
    job_row,
    json_strings,
    pipeline_row,
)


class PpsTables:
    """The PPS half of a SQLite transaction (see ``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # --- pipelines ---------------------------------------------------------------------

    def pipeline(self, name: str) -> PipelineRecord | None:
        r = self.conn.execute(
            f"SELECT {PIPELINE_COLS} FROM pipelines WHERE name = ?", (name,)
        ).fetchone()
        return None if r is None else pipeline_row(r)

    def pipelines(self) -> list[PipelineRecord]:
        rows = self.conn.execute(f"SELECT {PIPELINE_COLS} FROM pipelines ORDER BY name")
        return [pipeline_row(r) for r in rows]

    def put_pipeline(self, pipeline: PipelineRecord) -> None:
        p, spec = pipeline, json.dumps(pipeline.spec)
        self.conn.execute("DELETE FROM pipelines WHERE name = ?", (p.name,))
        self.conn.execute(
            f"INSERT INTO pipelines ({PIPELINE_COLS}) VALUES (?,?,?,?,?,?,?)",
            (p.name, p.version, spec, p.state, p.salt, p.created, p.updated),
        )
        self.conn.execute(
            "INSERT INTO pipeline_versions (name, version, spec, created) VALUES (?,?,?,?) "
            "ON CONFLICT DO NOTHING",
            (p.name, p.version, spec, p.updated),
        )

    def version_spec(self, name: str, version: PipelineVersion) -> dict[str, Any] | None:
        r = self.conn.execute(
            "SELECT spec FROM pipeline_versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def all_version_specs(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT spec FROM pipeline_versions")]

    def versions(self, name: str) -> list[PipelineVersionRecord]:
        rows = self.conn.execute(
            "SELECT v.name, v.version, v.spec, v.created, "
            "(SELECT COUNT(*) FROM jobs j WHERE j.pipeline = v.name AND j.version = v.version) "
            "FROM pipeline_versions v WHERE v.name = ? ORDER BY v.created, v.rowid",
            (name,),
        )
        return [PipelineVersionRecord(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def delete_pipeline(self, name: str) -> None:
        for table, col in (
            ("pipelines", "name"), ("pipeline_versions", "name"), ("jobs", "pipeline"),
            ("job_datums", "pipeline"), ("datum_state", "pipeline"), ("job_batches", "pipeline"),
            ("datum_restarts", "pipeline"), ("datum_gone", "pipeline"),
        ):  # fmt: skip
            self.conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (name,))

    def pin_code(self, code: str, now: float, keep_s: float) -> None:
        self.conn.execute("DELETE FROM code_pins WHERE pinned < ?", (now - keep_s,))
        self.conn.execute(
            "INSERT INTO code_pins (code, pinned) VALUES (?, ?) "
            "ON CONFLICT (code) DO UPDATE SET pinned = excluded.pinned",
            (code, now),
        )

    def pinned_code(self, since: float) -> list[str]:
        rows = self.conn.execute(
            "SELECT code FROM code_pins WHERE pinned >= ? ORDER BY code", (since,)
        )
        return [r[0] for r in rows]

    # --- jobs ----------------------------------------------------------------------------

    def job(self, pipeline: str, job_id: JobId) -> JobRecord | None:
        r = self.conn.execute(
            f"SELECT {JOB_COLS} FROM jobs WHERE pipeline = ? AND id = ?", (pipeline, job_id)
        ).fetchone()
        return None if r is None else job_row(r)

    def jobs(
        self,
        pipeline: str | None = None,
        job_id: JobId | None = None,
        before_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
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
        sql = f"SELECT {JOB_COLS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [job_row(r) for r in self.conn.execute(sql, args)]

    def jobs_in_states(self, pipeline: str, states: Collection[str]) -> list[JobRecord]:
        marks = ", ".join("?" * len(states))
        rows = self.conn.execute(
            f"SELECT {JOB_COLS} FROM jobs WHERE pipeline = ? AND state IN ({marks}) ORDER BY seq",
            (pipeline, *states),
        )
        return [job_row(r) for r in rows]

    def recent_jobs(
        self, limit: int, ended_since: float, live_states: Collection[str]
    ) -> list[JobRecord]:
        marks = ", ".join("?" * len(live_states))
        rows = self.conn.execute(
            f"SELECT {JOB_COLS} FROM jobs "
            "WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM jobs) - ? "
            f"OR state IN ({marks}) OR finished >= ? ORDER BY seq DESC",
            (limit, *live_states, ended_since),
        )
        return [job_row(r) for r in rows]

    def insert_job(self, job: JobRecord) -> JobRecord:
        # the write lock serializes writers, so MAX + 1 is never handed out twice
        seq = self.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
        j, c = job, job.counts
        self.conn.execute(
            f"INSERT INTO jobs ({JOB_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (j.pipeline, j.id, j.version, j.state, j.reason, job_inputs_json(j.inputs),
             j.output_repo, j.created, j.started, j.finished,
             c.total, c.processed, c.skipped, c.failed, c.recovered, seq),
        )  # fmt: skip
        return replace(job, seq=seq)

    def update_job(self, job: JobRecord) -> None:
        j, c = job, job.counts
        self.conn.execute(
            "UPDATE jobs SET state = ?, reason = ?, inputs = ?, started = ?, finished = ?, "
            "total = ?, processed = ?, skipped = ?, failed = ?, recovered = ? "
            "WHERE pipeline = ? AND id = ?",
            (j.state, j.reason, job_inputs_json(j.inputs), j.started, j.finished,
             c.total, c.processed, c.skipped, c.failed, c.recovered, j.pipeline, j.id),
        )  # fmt: skip

    def delete_job(self, pipeline: str, job_id: JobId) -> None:
        for table, col in (("jobs", "id"), ("job_datums", "job"), ("job_batches", "job"),
                           ("datum_gone", "job")):  # fmt: skip
            self.conn.execute(
                f"DELETE FROM {table} WHERE pipeline = ? AND {col} = ?", (pipeline, job_id)
            )

    # --- datums ----------------------------------------------------------------------------

    def insert_job_datums(self, datums: Iterable[DatumRecord]) -> None:
        self.conn.executemany(
            f"INSERT OR REPLACE INTO job_datums ({DATUM_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ((d.pipeline, d.job, d.id, d.state, d.hash, datum_inputs_json(d.inputs),
              json_strings(d.outputs), d.attempts, d.error, d.duration) for d in datums),
        )  # fmt: skip

    def job_datums(
        self,
        pipeline: str,
        job_id: JobId,
        datum: DatumId | None = None,
        after: DatumId | None = None,
        limit: int | None = None,
    ) -> list[DatumRecord]:
        sql = f"SELECT {DATUM_COLS} FROM job_datums WHERE pipeline = ? AND job = ?"
        args: list[Any] = [pipeline, job_id]
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
        return [datum_row(r) for r in self.conn.execute(sql, args)]

    def datum_states(self, pipeline: str) -> list[DatumStateRecord]:
        rows = self.conn.execute(
            "SELECT pipeline, datum, hash, outputs, job FROM datum_state WHERE pipeline = ? "
            "ORDER BY datum",
            (pipeline,),
        )
        return [DatumStateRecord(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4]) for r in rows]

    def replace_datum_states(
        self, pipeline: str, removed: Iterable[DatumId], upserts: Iterable[DatumStateRecord]
    ) -> None:
        self.conn.executemany(
            "DELETE FROM datum_state WHERE pipeline = ? AND datum = ?",
            [(pipeline, d) for d in removed],
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO datum_state (pipeline, datum, hash, outputs, job) "
            "VALUES (?,?,?,?,?)",
            [(s.pipeline, s.id, s.hash, json_strings(s.outputs), s.job) for s in upserts],
        )

    def reset_datum_states(
        self, pipeline: str, job_id: JobId | None, kept_states: Collection[str]
    ) -> None:
        self.conn.execute("DELETE FROM datum_state WHERE pipeline = ?", (pipeline,))
        if job_id is not None and kept_states:
            marks = ", ".join("?" * len(kept_states))
            self.conn.execute(
                "INSERT INTO datum_state (pipeline, datum, hash, outputs, job) "
                "SELECT pipeline, datum, hash, outputs, job FROM job_datums "
                f"WHERE pipeline = ? AND job = ? AND state IN ({marks})",
                (pipeline, job_id, *kept_states),
            )

    def datum_states_of(self, pipeline: str, ids: Collection[DatumId]) -> list[DatumStateRecord]:
        wanted = sorted(ids)
        out: list[DatumStateRecord] = []
        for i in range(0, len(wanted), 500):  # within the statement's parameter limit
            part = wanted[i : i + 500]
            marks = ", ".join(["?"] * len(part))
            rows = self.conn.execute(
                "SELECT pipeline, datum, hash, outputs, job FROM datum_state "
                f"WHERE pipeline = ? AND datum IN ({marks})",
                (pipeline, *part),
            )
            out += [DatumStateRecord(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4])
                    for r in rows]  # fmt: skip
        return out

    def count_datum_states(self, pipeline: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM datum_state WHERE pipeline = ?", (pipeline,)
        ).fetchone()
        return int(row[0]) if row else 0

    def insert_gone_datums(self, pipeline: str, job_id: JobId, ids: Iterable[DatumId]) -> None:
        self.conn.executemany(
            "INSERT INTO datum_gone (pipeline, job, datum) VALUES (?,?,?) ON CONFLICT DO NOTHING",
            [(pipeline, job_id, d) for d in ids],
        )

    def datum_history(
        self, pipeline: str, before_seq: int, datum: DatumId | None = None
    ) -> tuple[list[tuple[int, DatumRecord]], list[tuple[int, DatumId]]]:
        one = " AND d.datum = ?" if datum is not None else ""
        args: tuple[Any, ...] = (pipeline, before_seq, *([datum] if datum is not None else []))
        cols = ", ".join(f"d.{c.strip()}" for c in DATUM_COLS.split(","))
        rows = self.conn.execute(
            f"SELECT j.seq, {cols} FROM job_datums d JOIN jobs j "
            "ON j.pipeline = d.pipeline AND j.id = d.job "
            f"WHERE d.pipeline = ? AND j.seq < ?{one}",
            args,
        )
        done = [(int(r[0]), datum_row(r[1:])) for r in rows]
        rows = self.conn.execute(
            "SELECT j.seq, d.datum FROM datum_gone d JOIN jobs j "
            "ON j.pipeline = d.pipeline AND j.id = d.job "
            f"WHERE d.pipeline = ? AND j.seq < ?{one}",
            args,
        )
        return done, [(int(r[0]), DatumId(r[1])) for r in rows]

    # --- checkpoints and restart requests ------------------------------------------------

    def add_checkpoint(self, checkpoint: CheckpointRecord) -> None:
        cp, layer = checkpoint, checkpoint.layer
        self.conn.execute(
            "INSERT INTO job_batches (pipeline, job, layer, rows, results) VALUES (?,?,?,?,?)",
            (cp.pipeline, cp.job, layer and layer.id, layer.rows if layer else 0,
             checkpoint_results_json(cp)),
        )  # fmt: skip

    def checkpoints(self, pipeline: str, job_id: JobId) -> list[CheckpointRecord]:
        rows = self.conn.execute(
            "SELECT layer, rows, results FROM job_batches WHERE pipeline = ? AND job = ? "
            "ORDER BY rowid",
            (pipeline, job_id),
        )
        return [checkpoint_row(pipeline, job_id, r) for r in rows]

    def delete_checkpoints(self, pipeline: str, job_id: JobId) -> None:
        self.conn.execute(
            "DELETE FROM job_batches WHERE pipeline = ? AND job = ?", (pipeline, job_id)
        )

    def checkpoint_manifests(self) -> set[str]:
        rows = self.conn.execute("SELECT layer FROM job_batches WHERE layer IS NOT NULL")
        return {r[0] for r in rows}

    def request_restart(self, pipeline: str, job_id: JobId, datum: str, now: float) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO datum_restarts (pipeline, job, datum, requested) "
            "VALUES (?,?,?,?)",
            (pipeline, job_id, datum, now),
        )

    def has_restarts(self, pipeline: str, job_id: JobId) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM datum_restarts WHERE pipeline = ? AND job = ? LIMIT 1",
            (pipeline, job_id),
        ).fetchone()
        return row is not None

    def take_restarts(self, pipeline: str, job_id: JobId) -> list[str]:
        rows = self.conn.execute(
            "SELECT datum FROM datum_restarts WHERE pipeline = ? AND job = ? ORDER BY requested",
            (pipeline, job_id),
        ).fetchall()
        self.conn.execute(
            "DELETE FROM datum_restarts WHERE pipeline = ? AND job = ?", (pipeline, job_id)
        )
        return [r[0] for r in rows]
