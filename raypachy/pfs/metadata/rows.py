"""Rows <-> records, shared by the SQL stores: the column lists every store selects in the
same order, and the JSON that job inputs, datums and checkpoints are kept as.

Specs, job inputs, datum inputs and outputs are JSON text: the stores keep them, they do not
query inside them, and every store writes the same JSON for the same record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _quote  # json.dumps's own string encoder
from typing import Any

from raypachy.pfs.metadata.records import (
    CheckpointDatum,
    CheckpointRecord,
    CommitRecord,
    DatumCounts,
    DatumInputRecord,
    DatumRecord,
    JobId,
    JobInput,
    JobRecord,
    PipelineRecord,
    layers_from_json,
)
from raypachy.storage.manifest import ManifestInfo

LEASE_COLS = "id, host, pid, started, heartbeat, expires"
COMMIT_COLS = (
    "repo, id, branch, parent, origin, description, started, finished, error, "
    "size_bytes, file_count, layers, staged"
)
PIPELINE_COLS = "name, version, spec, state, salt, created, updated"
JOB_COLS = (
    "pipeline, id, version, state, reason, inputs, output_repo, created, started, finished, "
    "total, processed, skipped, failed, recovered, seq"
)
DATUM_COLS = "pipeline, job, datum, state, hash, inputs, outputs, attempts, error, duration"

#: Jobs that recorded their datums before ``datum_gone`` existed wrote a row for every datum
#: they planned, skipped ones included: a datum alive in the previous recording job (one with
#: rows, or a successful job of no datums) and absent from a recording job's rows went away
#: in that job. Same SQL on SQLite and PostgreSQL.
BACKFILL_DATUM_GONE = """INSERT INTO datum_gone (pipeline, job, datum)
SELECT k.pipeline, k.id, d.datum FROM jobs k
JOIN jobs p ON p.pipeline = k.pipeline AND p.seq = (
    SELECT MAX(q.seq) FROM jobs q
    WHERE q.pipeline = k.pipeline AND q.seq < k.seq AND (
        EXISTS (SELECT 1 FROM job_datums x WHERE x.pipeline = q.pipeline AND x.job = q.id)
        OR (q.state = 'success' AND q.total = 0)))
JOIN job_datums d ON d.pipeline = p.pipeline AND d.job = p.id
    AND d.state IN ('success', 'skipped')
WHERE (EXISTS (SELECT 1 FROM job_datums y WHERE y.pipeline = k.pipeline AND y.job = k.id)
       OR (k.state = 'success' AND k.total = 0))
  AND NOT EXISTS (SELECT 1 FROM job_datums z
                  WHERE z.pipeline = k.pipeline AND z.job = k.id AND z.datum = d.datum)"""


def commit_row(row: Any) -> CommitRecord:
    """A commit from its ``COMMIT_COLS`` (provenance is added by the caller)."""
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


def json_strings(items: Iterable[str]) -> str:
    """``json.dumps(list(items))`` for strings, byte for byte, without its per-call set-up:
    a job writes thousands of datums at once, inside the write transaction."""
    return "[" + ", ".join(map(_quote, items)) + "]"


def datum_inputs_json(inputs: tuple[DatumInputRecord, ...]) -> str:
    return "[" + ", ".join(json_strings((i.name, i.repo, i.commit, i.path)) for i in inputs) + "]"


def pipeline_row(r: Any) -> PipelineRecord:
    return PipelineRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6])


def job_inputs_json(inputs: tuple[JobInput, ...]) -> str:
    return json.dumps([{"name": i.name, "repo": i.repo, "branch": i.branch, "id": i.id}
                       for i in inputs])  # fmt: skip


def job_row(r: Any) -> JobRecord:
    inputs = tuple(JobInput(i["name"], i["repo"], i["branch"], i["id"]) for i in json.loads(r[5]))
    return JobRecord(
        r[0], r[1], r[2], r[3], r[4], inputs, r[6], r[7], r[8], r[9],
        DatumCounts(r[10], r[11], r[12], r[13], r[14]), r[15],
    )  # fmt: skip


def datum_row(r: Any) -> DatumRecord:
    inputs = tuple(DatumInputRecord(*i) for i in json.loads(r[5]))
    return DatumRecord(r[0], r[1], r[2], r[3], r[4], inputs, tuple(json.loads(r[6])), *r[7:])


def checkpoint_results_json(checkpoint: CheckpointRecord) -> str:
    return json.dumps([[d.id, d.hash, d.state, list(d.outputs), d.attempts, d.error, d.duration]
                       for d in checkpoint.datums])  # fmt: skip


def checkpoint_row(pipeline: str, job: JobId, r: Any) -> CheckpointRecord:
    """A checkpoint from its (layer, rows, results) columns."""
    layer = None if r[0] is None else ManifestInfo(r[0], r[1])
    datums = tuple(
        CheckpointDatum(d[0], d[1], d[2], tuple(d[3]), d[4], d[5], d[6]) for d in json.loads(r[2])
    )
    return CheckpointRecord(pipeline, job, layer, datums)
