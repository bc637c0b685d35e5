"""From datum results to a job's outcome: the output delta, the datum states, the verdict.

A datum whose hash was processed successfully before is skipped and keeps its outputs. A
processed datum replaces its old outputs; a failed or vanished datum loses them. Two datums
writing one path fail the job, naming both and the path (no silent merge). The output commit
is the previous output plus this delta, so the cost follows the number of changed datums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from raypachy.pps.datums import Datum
from raypachy.pps.model import DatumState, JobState
from raypachy.pps.worker import BatchResult, DatumResult
from raypachy.storage.entries import Entry, FileData, Op
from raypachy.storage.manifest import ManifestInfo, ManifestStore


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    reason: str
    layer: ManifestInfo | None
    counts: tuple[int, int, int, int, int]
    datum_rows: list[tuple[Any, ...]]  # see PPS.finish_job; none for skipped datums
    removed: list[str]
    upserts: dict[str, tuple[str, list[str]]]


def _inputs(datum: Datum) -> list[list[str]]:
    return [[i.name, i.repo, i.commit, i.path] for i in datum.inputs]


def merge(
    manifests: ManifestStore,
    planned: list[Datum],
    skipped: set[str],
    previous: dict[str, tuple[str, list[str]]],
    batches: Iterable[BatchResult],
) -> Outcome:
    batches = list(batches)
    results: dict[str, DatumResult] = {r.id: r for b in batches for r in b.results}
    owners: dict[str, str] = {}
    collisions: list[tuple[str, str, str]] = []

    def own(path: str, datum: str) -> None:
        other = owners.setdefault(path, datum)
        if other != datum:
            collisions.append((path, other, datum))

    for datum in planned:
        if datum.id in skipped:
            for path in previous[datum.id][1]:
                own(path, datum.id)
        elif (r := results.get(datum.id)) is not None and r.state == DatumState.SUCCESS:
            for path in r.outputs:
                own(path, datum.id)
    colliding = {d for _, a, b in collisions for d in (a, b)}

    rows: list[tuple[Any, ...]] = []
    upserts: dict[str, tuple[str, list[str]]] = {}
    planned_ids = {p.id for p in planned}
    removed = [d for d in previous if d not in planned_ids]
    keep: set[str] = set()  # paths the new output holds
    processed = failed = recovered = 0
    for datum in planned:
        if datum.id in skipped:  # no row: the store derives it (raypachy.pps.skiplog)
            keep.update(previous[datum.id][1])
            continue
        r = results.get(datum.id)
        if r is None:  # never ran: the job was cut short
            r = DatumResult(datum.id, datum.hash, DatumState.FAILED, (), 0, "not run", 0.0)
        state, error = r.state, r.error
        if state == DatumState.SUCCESS and datum.id in colliding:
            state, error = DatumState.FAILED, "output path collision"
        if state == DatumState.SUCCESS:
            processed += 1
            upserts[datum.id] = (datum.hash, list(r.outputs))
            keep.update(r.outputs)
        else:
            failed += state == DatumState.FAILED
            recovered += state == DatumState.RECOVERED
            if datum.id in previous:
                removed.append(datum.id)
        rows.append((datum.id, state, datum.hash, _inputs(datum), list(r.outputs),
                     r.attempts, error, r.duration))  # fmt: skip

    deletes = {p for d in [*removed, *upserts] if d in previous for p in previous[d][1]} - keep
    puts: dict[str, FileData] = {}
    wanted = {p for d in upserts for p in upserts[d][1]}
    for batch in batches:
        if batch.layer is None:
            continue
        for entry in manifests.open(batch.layer.id):
            if entry.path in wanted:
                puts[entry.path] = entry.data
    entries = [Entry(p, Op.PUT, d) for p, d in puts.items()]
    entries += [Entry(p, Op.DELETE, FileData.empty()) for p in deletes if p not in puts]
    layer = manifests.put(sorted(entries, key=lambda e: e.path)) if entries else None

    reason = ""
    if collisions:
        path, a, b = collisions[0]
        reason = f"datums {a} and {b} both write {path}: give each datum its own output paths"
    elif failed:
        first = next(r for r in rows if r[1] == DatumState.FAILED)
        reason = f"{failed} datum(s) failed; first: {first[0]}: {first[6]}"
    state = JobState.FAILURE if (collisions or failed) else JobState.SUCCESS
    counts = (len(planned), processed, len(skipped), failed, recovered)
    return Outcome(state, reason, layer, counts, rows, removed, upserts)
