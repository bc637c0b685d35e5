"""PPS's statements on PostgreSQL: pipelines, versions, jobs, datums and checkpoints.

The JSON columns hold the same text SQLite's do (``raypachy.pfs.metadata.rows``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import replace
from typing import Any

from raypachy.pfs.metadata.postgres.pfs_tables import text
from raypachy.pfs.metadata.postgres.schema import Conn
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
    """The PPS half of a PostgreSQL transaction (see ``raypachy.pfs.metadata.interface``)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    # --- pipelines ---------------------------------------------------------------------

    def pipeline(self, name: str) -> PipelineRecord | None:
        r = self.conn.execute(
            f"SELECT {PIPELINE_COLS} FROM pipelines WHERE name = %s", (name,)
        ).fetchone()
        return None if r is None else pipeline_row(r)

    def pipelines(self) -> list[PipelineRecord]:
        rows = self.conn.execute(f"SELECT {PIPELINE_COLS} FROM pipelines ORDER BY name")
        return [pipeline_row(r) for r in rows]

    def put_pipeline(self, pipeline: PipelineRecord) -> None:
        p, spec = pipeline, json.dumps(pipeline.spec)
        self.conn.execute(
            f"INSERT INTO pipelines ({PIPELINE_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, spec = EXCLUDED.spec, "
            "state = EXCLUDED.state, salt = EXCLUDED.salt, created = EXCLUDED.created, "
            "updated = EXCLUDED.updated",
            (p.name, p.version, spec, p.state, p.salt, p.created, p.updated),
        )
        self.conn.execute(
            "INSERT INTO pipeline_versions (name, version, spec, created) VALUES (%s,%s,%s,%s) "
            "ON CONFLICT DO NOTHING",
            (p.name, p.version, spec, p.updated),
        )

    def version_spec(self, name: str, version: PipelineVersion) -> dict[str, Any] | None:
        r = self.conn.execute(
            "SELECT spec FROM pipeline_versions WHERE name = %s AND version = %s",
            (name, version),
        ).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def all_version_specs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT spec FROM pipeline_versions")
        return [json.loads(r[0]) for r in rows]

    def versions(self, name: str) -> list[PipelineVersionRecord]:
        rows = self.conn.execute(
            "SELECT v.name, v.version, v.spec, v.created, "
            "(SELECT COUNT(*) FROM jobs j WHERE j.pipeline = v.name AND j.version = v.version) "
            "FROM pipeline_versions v WHERE v.name = %s ORDER BY v.created, v.pos",
            (name,),
        )
        return [PipelineVersionRecord(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def delete_pipeline(self, name: str) -> None:
        for table, col in (
            ("pipelines", "name"), ("pipeline_versions", "name"), ("jobs", "pipeline"),
            ("job_datums", "pipeline"), ("datum_state", "pipeline"), ("job_batches", "pipeline"),
            ("datum_restarts", "pipeline"), ("datum_gone", "pipeline"),
        ):  # fmt: skip
            self.conn.execute(f"DELETE FROM {table} WHERE {col} = %s", (name,))

    def pin_code(self, code: str, now: float, keep_s: float) -> None:
        self.conn.execute("DELETE FROM code_pins WHERE pinned < %s", (now - keep_s,))
        self.conn.execute(
            "INSERT INTO code_pins (code, pinned) VALUES (%s, %s) "
            "ON CONFLICT (code) DO UPDATE SET pinned = EXCLUDED.pinned",
            (code, now),
        )

    def pinned_code(self, since: float) -> list[str]:
        rows = self.conn.execute(
            "SELECT code FROM code_pins WHERE pinned >= %s ORDER BY code", (since,)
        )
        return [r[0] for r in rows]

    # --- jobs ----------------------------------------------------------------------------

    def job(self, pipeline: str, job_id: JobId) -> JobRecord | None:
        r = self.conn.execute(
            f"SELECT {JOB_COLS} FROM jobs WHERE pipeline = %s AND id = %s", (pipeline, job_id)
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
            where.append("pipeline = %s")
            args.append(pipeline)
        if job_id is not None:
            where.append("id = %s")
            args.append(job_id)
        if before_seq is not None:
            where.append("seq < %s")
            args.append(before_seq)
        sql = f"SELECT {JOB_COLS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [job_row(r) for r in self.conn.execute(sql, args)]

    def jobs_in_states(self, pipeline: str, states: Collection[str]) -> list[JobRecord]:
        rows = self.conn.execute(
            f"SELECT {JOB_COLS} FROM jobs WHERE pipeline = %s AND state = ANY(%s) ORDER BY seq",
            (pipeline, list(states)),
        )
        return [job_row(r) for r in rows]

    def recent_jobs(
        self, limit: int, ended_since: float, live_states: Collection[str]
    ) -> list[JobRecord]:
        rows = self.conn.execute(
            f"SELECT {JOB_COLS} FROM jobs "
            "WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM jobs) - %s "
            "OR state = ANY(%s) OR finished >= %s ORDER BY seq DESC",
            (limit, list(live_states), ended_since),
        )
        return [job_row(r) for r in rows]

    def insert_job(self, job: JobRecord) -> JobRecord:
        # writers take turns (the store's write lock), so MAX + 1 is never handed out twice;
        # a sequence would leave gaps on every rollback, and recent_jobs counts on few gaps
        seq = self.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
        assert seq is not None
        j, c = job, job.counts
        self.conn.execute(
            f"INSERT INTO jobs ({JOB_COLS}) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (j.pipeline, j.id, j.version, j.state, text(j.reason), job_inputs_json(j.inputs),
             j.output_repo, j.created, j.started, j.finished,
             c.total, c.processed, c.skipped, c.failed, c.recovered, seq[0]),
        )  # fmt: skip
        return replace(job, seq=seq[0])

    def update_job(self, job: JobRecord) -> None:
        j, c = job, job.counts
        self.conn.execute(
            "UPDATE jobs SET state = %s, reason = %s, inputs = %s, started = %s, finished = %s, "
            "total = %s, processed = %s, skipped = %s, failed = %s, recovered = %s "
            "WHERE pipeline = %s AND id = %s",
            (j.state, text(j.reason), job_inputs_json(j.inputs), j.started, j.finished,
             c.total, c.processed, c.skipped, c.failed, c.recovered, j.pipeline, j.id),
        )  # fmt: skip

    def delete_job(self, pipeline: str, job_id: JobId) -> None:
        for table, col in (("jobs", "id"), ("job_datums", "job"), ("job_batches", "job"),
                           ("datum_gone", "job")):  # fmt: skip
            self.conn.execute(
                f"DELETE FROM {table} WHERE pipeline = %s AND {col} = %s", (pipeline, job_id)
            )

    # --- datums ----------------------------------------------------------------------------

    def insert_job_datums(self, datums: Iterable[DatumRecord]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO job_datums ({DATUM_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (pipeline, job, datum) DO UPDATE SET state = EXCLUDED.state, "
                "hash = EXCLUDED.hash, inputs = EXCLUDED.inputs, outputs = EXCLUDED.outputs, "
                "attempts = EXCLUDED.attempts, error = EXCLUDED.error, "
                "duration = EXCLUDED.duration",
                ((d.pipeline, d.job, d.id, d.state, d.hash, datum_inputs_json(d.inputs),
                  json_strings(d.outputs), d.attempts, text(d.error), d.duration)
                 for d in datums),
            )  # fmt: skip

    def job_datums(
        self,
        pipeline: str,
        job_id: JobId,
        datum: DatumId | None = None,
        after: DatumId | None = None,
        limit: int | None = None,
    ) -> list[DatumRecord]:
        sql = f"SELECT {DATUM_COLS} FROM job_datums WHERE pipeline = %s AND job = %s"
        args: list[Any] = [pipeline, job_id]
        if datum is not None:
            sql += " AND datum = %s"
            args.append(datum)
        if after is not None:
            sql += " AND datum > %s"
            args.append(after)
        sql += " ORDER BY datum"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [datum_row(r) for r in self.conn.execute(sql, args)]

    def datum_states(self, pipeline: str) -> list[DatumStateRecord]:
        rows = self.conn.execute(
            "SELECT pipeline, datum, hash, outputs, job FROM datum_state WHERE pipeline = %s "
            "ORDER BY datum",
            (pipeline,),
        )
        return [DatumStateRecord(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4]) for r in rows]

    def replace_datum_states(
        self, pipeline: str, removed: Iterable[DatumId], upserts: Iterable[DatumStateRecord]
    ) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "DELETE FROM datum_state WHERE pipeline = %s AND datum = %s",
                [(pipeline, d) for d in removed],
            )
            cur.executemany(
                "INSERT INTO datum_state (pipeline, datum, hash, outputs, job) "
                "VALUES (%s,%s,%s,%s,%s) ON CONFLICT (pipeline, datum) DO UPDATE SET "
                "hash = EXCLUDED.hash, outputs = EXCLUDED.outputs, job = EXCLUDED.job",
                [(s.pipeline, s.id, s.hash, json_strings(s.outputs), s.job) for s in upserts],
            )

    def reset_datum_states(
        self, pipeline: str, job_id: JobId | None, kept_states: Collection[str]
    ) -> None:
        self.conn.execute("DELETE FROM datum_state WHERE pipeline = %s", (pipeline,))
        if job_id is not None and kept_states:
            self.conn.execute(
                "INSERT INTO datum_state (pipeline, datum, hash, outputs, job) "
                "SELECT pipeline, datum, hash, outputs, job FROM job_datums "
                "WHERE pipeline = %s AND job = %s AND state = ANY(%s)",
                (pipeline, job_id, list(kept_states)),
            )

    def datum_states_of(self, pipeline: str, ids: Collection[DatumId]) -> list[DatumStateRecord]:
        wanted = sorted(ids)
        out: list[DatumStateRecord] = []
        for i in range(0, len(wanted), 500):  # within the statement's parameter limit
            part = wanted[i : i + 500]
            marks = ", ".join(["%s"] * len(part))
            rows = self.conn.execute(
                "SELECT pipeline, datum, hash, outputs, job FROM datum_state "
                f"WHERE pipeline = %s AND datum IN ({marks})",
                (pipeline, *part),
            )
            out += [DatumStateRecord(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4])
                    for r in rows]  # fmt: skip
        return out

    def count_datum_states(self, pipeline: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM datum_state WHERE pipeline = %s", (pipeline,)
        ).fetchone()
        return int(row[0]) if row else 0

    def insert_gone_datums(self, pipeline: str, job_id: JobId, ids: Iterable[DatumId]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO datum_gone (pipeline, job, datum) VALUES (%s,%s,%s) "
                "ON CONFLICT DO NOTHING",
                [(pipeline, job_id, d) for d in ids],
            )

    def datum_history(
        self, pipeline: str, before_seq: int, datum: DatumId | None = None
    ) -> tuple[list[tuple[int, DatumRecord]], list[tuple[int, DatumId]]]:
        one = " AND d.datum = %s" if datum is not None else ""
        args: tuple[Any, ...] = (pipeline, before_seq, *([datum] if datum is not None else []))
        cols = ", ".join(f"d.{c.strip()}" for c in DATUM_COLS.split(","))
        rows = self.conn.execute(
            f"SELECT j.seq, {cols} FROM job_datums d JOIN jobs j "
            "ON j.pipeline = d.pipeline AND j.id = d.job "
            f"WHERE d.pipeline = %s AND j.seq < %s{one}",
            args,
        )
        done = [(int(r[0]), datum_row(r[1:])) for r in rows]
        rows = self.conn.execute(
            "SELECT j.seq, d.datum FROM datum_gone d JOIN jobs j "
            "ON j.pipeline = d.pipeline AND j.id = d.job "
            f"WHERE d.pipeline = %s AND j.seq < %s{one}",
            args,
        )
        return done, [(int(r[0]), DatumId(r[1])) for r in rows]

    # --- checkpoints and restart requests ------------------------------------------------

    def add_checkpoint(self, checkpoint: CheckpointRecord) -> None:
        cp, layer = checkpoint, checkpoint.layer
        self.conn.execute(
            "INSERT INTO job_batches (pipeline, job, layer, rows, results) "
            "VALUES (%s,%s,%s,%s,%s)",
            (cp.pipeline, cp.job, layer and layer.id, layer.rows if layer else 0,
             checkpoint_results_json(cp)),
        )  # fmt: skip

    def checkpoints(self, pipeline: str, job_id: JobId) -> list[CheckpointRecord]:
        rows = self.conn.execute(
            "SELECT layer, rows, results FROM job_batches WHERE pipeline = %s AND job = %s "
            "ORDER BY pos",
            (pipeline, job_id),
        )
        return [checkpoint_row(pipeline, job_id, r) for r in rows]

    def delete_checkpoints(self, pipeline: str, job_id: JobId) -> None:
        self.conn.execute(
            "DELETE FROM job_batches WHERE pipeline = %s AND job = %s", (pipeline, job_id)
        )

    def checkpoint_manifests(self) -> set[str]:
        rows = self.conn.execute("SELECT layer FROM job_batches WHERE layer IS NOT NULL")
        return {r[0] for r in rows}

    def request_restart(self, pipeline: str, job_id: JobId, datum: str, now: float) -> None:
        self.conn.execute(
            "INSERT INTO datum_restarts (pipeline, job, datum, requested) VALUES (%s,%s,%s,%s) "
            "ON CONFLICT (pipeline, job, datum) DO UPDATE SET requested = EXCLUDED.requested",
            (pipeline, job_id, datum, now),
        )

    def has_restarts(self, pipeline: str, job_id: JobId) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM datum_restarts WHERE pipeline = %s AND job = %s LIMIT 1",
            (pipeline, job_id),
        ).fetchone()
        return row is not None

    def take_restarts(self, pipeline: str, job_id: JobId) -> list[str]:
        rows = self.conn.execute(
            "DELETE FROM datum_restarts WHERE pipeline = %s AND job = %s "
            "RETURNING datum, requested",
            (pipeline, job_id),
        ).fetchall()
        return [r[0] for r in sorted(rows, key=lambda r: r[1])]  # oldest request first
