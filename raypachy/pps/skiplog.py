"""A job's skipped datums, derived from each datum's history rather than stored.

A job writes a row for each datum it processed or that failed, and records the datums it
dropped (their input went away, or they failed after an earlier success); a datum it skipped
gets no row, so that one new file into a million does not write a million rows. A datum is
alive after a job when its latest event up to that job is a success (or a ``skipped`` row,
as jobs wrote them before); the datums a job skipped are those alive before it that it
neither processed nor dropped: exactly the carried-over records the job skipped over.
"""

from __future__ import annotations

from raypachy.pfs.metadata import (
    DatumId,
    DatumInputRecord,
    DatumRecord,
    DatumStateRecord,
    JobRecord,
    Tx,
)
from raypachy.pps.model import DatumState, JobState

_ALIVE = (DatumState.SUCCESS.value, DatumState.SKIPPED.value)
#: Jobs that recorded their datums (finish_job); a killed job left nothing to derive from.
_RECORDED = (JobState.SUCCESS.value, JobState.FAILURE.value)


def _alive(
    tx: Tx, pipeline: str, before_seq: int, datum: DatumId | None, touched_seq: int = -1
) -> tuple[dict[str, DatumRecord], set[str]]:
    """Datums alive before ``before_seq`` (excluding the events of job ``touched_seq``), and
    the datums job ``touched_seq`` wrote or dropped."""
    rows, gone = tx.datum_history(pipeline, before_seq, datum)
    latest: dict[str, tuple[int, DatumRecord | None]] = {}
    touched: set[str] = set()

    def event(seq: int, datum_id: str, rec: DatumRecord | None) -> None:
        if seq == touched_seq:
            touched.add(datum_id)
            return
        old = latest.get(datum_id)
        # at one seq a failed row and its drop can both be there: dead either way
        if old is None or seq > old[0] or (seq == old[0] and rec is None):
            latest[datum_id] = (seq, rec)

    for seq, rec in rows:
        event(seq, rec.id, rec if rec.state in _ALIVE else None)
    for seq, datum_id in gone:
        event(seq, datum_id, None)
    return {d: rec for d, (_, rec) in latest.items() if rec is not None}, touched


def skipped_datums(tx: Tx, job: JobRecord, datum: DatumId | None = None) -> list[DatumRecord]:
    """The datums ``job`` skipped (or just ``datum``, if it did), as their rows would read."""
    if job.state not in _RECORDED or job.counts.skipped == 0:
        return []
    alive, touched = _alive(tx, job.pipeline, job.seq + 1, datum, job.seq)
    commits = {(i.name, i.repo): i.id for i in job.inputs}
    out = []
    for datum_id in sorted(alive.keys() - touched):
        rec = alive[datum_id]
        inputs = tuple(
            DatumInputRecord(i.name, i.repo, commits.get((i.name, i.repo), i.commit), i.path)
            for i in rec.inputs
        )
        out.append(DatumRecord(job.pipeline, job.id, rec.id, DatumState.SKIPPED.value, rec.hash,
                               inputs, rec.outputs, 0, "", 0.0))  # fmt: skip
    return out


def job_datum_records(tx: Tx, job: JobRecord, datum: DatumId | None = None) -> list[DatumRecord]:
    """Every datum of a job by id: the rows it wrote and the datums it skipped."""
    rows = tx.job_datums(job.pipeline, job.id, datum)
    if datum is not None and rows:
        return rows
    written = {r.id for r in rows}
    derived = [d for d in skipped_datums(tx, job, datum) if d.id not in written]
    return sorted([*rows, *derived], key=lambda r: r.id) if derived else rows


def states_after(tx: Tx, job: JobRecord | None, pipeline: str) -> list[DatumStateRecord]:
    """The pipeline's datum records as they were right after ``job`` ended (none after a
    job that recorded nothing: a killed or unrunnable one)."""
    if job is None or job.state not in _RECORDED:
        return []
    alive, _ = _alive(tx, pipeline, job.seq + 1, None)
    return [DatumStateRecord(pipeline, rec.id, rec.hash, rec.outputs, rec.job)
            for rec in alive.values()]  # fmt: skip
