"""Running one job: plan the datums, skip what is done, run the rest in batches, merge.

The same code runs a job in-process (tests, with ``SerialExecutor``) or on Ray (the
pipeline controller): it talks to the metadata through ``JobHost`` and runs batches through
an ``Executor``. It never imports ray.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import astuple, replace
from typing import Any, Protocol

from raypachy.errors import TooManyDatumsError, TransformInitError
from raypachy.limits import max_datums
from raypachy.pps.datums import (
    Datum,
    FileLister,
    InputCommits,
    input_key,
    iter_leaves,
    match_items,
    plan,
)
from raypachy.pps.diffplan import DiffPlan, diff_plan
from raypachy.pps.egress import run_egress
from raypachy.pps.merge import Outcome, merge
from raypachy.pps.model import DatumState, DiffBase, JobClaim, JobState
from raypachy.pps.spec import PipelineSpec, parse_spec
from raypachy.pps.worker import BatchResult, BatchSpec, DatumResult, job_log_key
from raypachy.storage import ManifestStore, tree_of
from raypachy.storage.manifest import ManifestInfo

PROGRESS_EVERY_S = 0.5
_SLOT = {"success": 0, "failed": 2, "recovered": 3}  # where a datum state counts, after total


class JobHost(Protocol):
    """The metadata side a job talks to (PPS in-process, or the metadata actor)."""

    def datum_states(self, pipeline: str) -> dict[str, tuple[str, list[str]]]: ...

    def datum_states_of(
        self, pipeline: str, ids: list[str]
    ) -> dict[str, tuple[str, list[str]]]: ...

    def diff_base(self, pipeline: str, job_id: str, salt: str) -> DiffBase | None: ...

    def commit_layers(self, repo: str, commit_id: str) -> list[ManifestInfo]: ...

    def checkpoint_batch(self, pipeline: str, job_id: str, layer: ManifestInfo | None,
                         results: list[list[Any]]) -> None: ...  # fmt: skip

    def checkpoints(
        self, pipeline: str, job_id: str
    ) -> list[tuple[ManifestInfo | None, list[list[Any]]]]: ...

    def update_job(self, pipeline: str, job_id: str, **fields: Any) -> None: ...

    def job_is_live(self, pipeline: str, job_id: str) -> bool: ...

    def finish_job(self, pipeline: str, job_id: str, state: str, reason: str,
                   layer: ManifestInfo | None, counts: tuple[int, int, int, int, int],
                   datum_rows: list[tuple[Any, ...]], removed: list[str],
                   upserts: dict[str, tuple[str, list[str]]]) -> Any: ...  # fmt: skip


class Executor(Protocol):
    """Runs batches (with at most ``parallelism`` in flight) and yields results as they end.

    While a batch runs, it calls ``on_partial`` (when set) with the batch's first datum id and
    the states of its datums that have ended so far: progress per datum, not per batch.
    """

    on_partial: Callable[[str, dict[str, int]], None] | None

    def run(
        self, spec: PipelineSpec, batches: list[BatchSpec], parallelism: int
    ) -> Iterator[BatchResult]: ...

    def cancel(self) -> None: ...


def batch_count(spec: PipelineSpec, datums: int, parallelism: int) -> int:
    """How many batches: ``datum_set_spec.number`` (datums per batch) if given, else
    ``per_worker`` batches per worker slot, else ~4 per slot (1 with datum batching)."""
    if datums == 0:
        return 0
    ds = spec.datum_set_spec
    if ds is not None and ds.number:
        return max(1, -(-datums // ds.number))
    # A batched command starts one process per batch: one batch per worker, as Pachyderm.
    default = 1 if spec.transform.datum_batching else 4
    per_slot = ds.per_worker if ds is not None and ds.per_worker else default
    return max(1, min(datums, per_slot * parallelism))


def split(datums: list[Datum], count: int) -> list[tuple[Datum, ...]]:
    size = -(-len(datums) // count) if count else 0
    return [tuple(datums[i : i + size]) for i in range(0, len(datums), size)] if size else []


def batches_of(
    spec: PipelineSpec, datums: list[Datum], parallelism: int
) -> list[tuple[Datum, ...]]:
    """The datum sets of a job; ``datum_set_spec.size_bytes`` closes a set before its input
    bytes pass that size (a set holds at least one datum)."""
    ds = spec.datum_set_spec
    limit = ds.size_bytes if ds is not None else 0
    if not limit:
        return split(datums, batch_count(spec, len(datums), parallelism))
    assert ds is not None
    by_count = ds.number or ds.per_worker  # else the size alone cuts the sets
    parts = (
        split(datums, batch_count(spec, len(datums), parallelism)) if by_count else [tuple(datums)]
    )
    out: list[tuple[Datum, ...]] = []
    for part in parts:
        current: list[Datum] = []
        size = 0
        for datum in part:
            if current and size + datum.size > limit:
                out.append(tuple(current))
                current, size = [], 0
            current.append(datum)
            size += datum.size
        out.append(tuple(current))
    return out


def run_job(
    claim: JobClaim,
    host: JobHost,
    manifests: ManifestStore,
    storage: str,
    executor: Executor,
    parallelism: int,
    now: Callable[[], float] = time.monotonic,
) -> Any:
    """Run the claimed job to its end and install its results; returns what finish_job does."""
    pipeline, job_id = claim.pipeline, claim.job
    spec = parse_spec(claim.spec)
    commits: InputCommits = {(i.name, i.repo, i.branch): i.id for i in claim.inputs}

    def lister(repo: str, commit_id: str) -> Iterator[tuple[str, Any]]:
        layers = host.commit_layers(repo, commit_id)
        return tree_of(manifests, layers).scan()

    every_job = spec.reprocess_spec == "every_job"
    changes = None if every_job else _plan_changes(claim, spec, host, manifests, commits)
    # Datums outside ``datums`` that are skipped all the same (unchanged since the last job).
    unchanged = 0
    if changes is not None:
        datums = changes.datums
        unchanged = changes.total - len(datums)
        previous = host.datum_states_of(pipeline, [d.id for d in datums] + changes.gone)
    else:
        try:
            # Counted before any datum is made; within the limit the job holds them all.
            datums = list(plan(spec.input, commits, lister, claim.salt, pipeline))
        except TooManyDatumsError as e:  # the job fails with that one line, nothing is run
            return host.finish_job(
                pipeline, job_id, JobState.FAILURE, e.message, None, (0, 0, 0, 0, 0), [], [], {}
            )
        previous = host.datum_states(pipeline)
    skipped = set() if every_job else _unchanged(datums, previous)
    # A resumed job: batches finished before the interruption keep their datums.
    # (A job claimed for the first time has none: no round trip to ask.)
    checkpoints = host.checkpoints(pipeline, job_id) if claim.resumed else []
    results = _resumed(checkpoints, {d.id: d.hash for d in datums})
    done = {r.id for b in results for r in b.results}
    todo = [d for d in datums if d.id not in skipped and d.id not in done]
    counts = [len(datums) + unchanged, len(done), len(skipped) + unchanged, 0, 0]
    # Running once planned (Pachyderm's starting covers the planning): one write, not two.
    host.update_job(pipeline, job_id, state=JobState.RUNNING, counts=tuple(counts))
    batches = [
        BatchSpec(
            pipeline,
            job_id,
            claim.output_commit,
            storage,
            claim.spec,
            part,
            claim.secrets,
            claim.token,
        )
        for part in batches_of(spec, todo, parallelism)
    ]
    timeout = spec.job_timeout_s()
    started = now()
    last_report = started
    reason = ""

    partials: dict[str, dict[str, int]] = {}  # datums ended in running batches, by batch

    def with_partials() -> tuple[int, ...]:
        live = list(counts)
        for states in list(partials.values()):
            for state, n in states.items():
                live[1 + _SLOT[state]] += n
        return tuple(live)

    def partial(batch: str, states: dict[str, int]) -> None:
        nonlocal last_report
        partials[batch] = states
        if now() - last_report > PROGRESS_EVERY_S:
            last_report = now()
            host.update_job(pipeline, job_id, counts=with_partials())

    executor.on_partial = partial
    try:
        for result in executor.run(spec, batches, parallelism):
            results.append(result)
            if len(batches) > 1:  # a job's only batch goes straight into finish_job
                _checkpoint(host, pipeline, job_id, result)
            if result.results:
                partials.pop(result.results[0].id, None)
            for r in result.results:
                counts[1 + _SLOT[r.state]] += 1
            if now() - last_report > PROGRESS_EVERY_S:
                last_report = now()
                if not host.job_is_live(pipeline, job_id):
                    executor.cancel()
                    return None  # stopped by the user: its state says so already
                host.update_job(pipeline, job_id, counts=with_partials())
            if timeout is not None and now() - started > timeout:
                executor.cancel()
                reason = f"job timed out after {timeout:g}s"
                break
    except TransformInitError as e:  # no datum can run on this pipeline's workers
        executor.cancel()
        reason = f"{e.message}\n{e.traceback}".rstrip()
        with contextlib.suppress(Exception):  # the reason says it all the same
            manifests.backend.put(job_log_key(pipeline, job_id), e.traceback.encode())
    host.update_job(pipeline, job_id, state=JobState.FINISHING, counts=tuple(counts))
    outcome = merge(manifests, datums, skipped, previous, results)
    if changes is not None and _claims_unchanged_path(host, claim, outcome, previous, manifests):
        # A processed datum writes a path an unchanged datum owns: the full merge names both.
        datums = list(plan(spec.input, commits, lister, claim.salt, pipeline))
        previous = host.datum_states(pipeline)
        skipped = _unchanged(datums, previous)
        outcome = merge(manifests, datums, skipped, previous, results)
    elif unchanged:
        total, processed, skips, failed, recovered = outcome.counts
        outcome = replace(outcome, counts=(total + unchanged, processed, skips + unchanged,
                                           failed, recovered))  # fmt: skip
    manifests.sync()  # the output layer is durable before the commit that references it
    state, why = outcome.state, outcome.reason
    if not datums and not why:
        why = _why_no_datums(spec, pipeline, commits, lister)
    if reason:
        state, why = JobState.FAILURE, reason
    if spec.egress is not None and state == JobState.SUCCESS:
        # Before the job ends, as Pachyderm: a failed egress fails the job.
        layers = host.commit_layers(claim.output_repo, claim.output_commit)
        status = run_egress(
            spec.egress, pipeline, job_id, claim.output_commit,
            [*layers, *([outcome.layer] if outcome.layer is not None else [])],
            lambda commit: host.commit_layers(claim.output_repo, commit), manifests,
            claim.secrets,
        )  # fmt: skip
        if status.state != "success":
            state, why = JobState.FAILURE, status.error
    return host.finish_job(
        pipeline, job_id, state, why, outcome.layer, outcome.counts, outcome.datum_rows,
        outcome.removed, outcome.upserts,
    )  # fmt: skip


def _unchanged(datums: list[Datum], previous: dict[str, tuple[str, list[str]]]) -> set[str]:
    """The datums whose last state has their hash: skipped, their outputs kept."""
    return {d.id for d in datums if d.id in previous and previous[d.id][0] == d.hash}


def _plan_changes(
    claim: JobClaim,
    spec: PipelineSpec,
    host: JobHost,
    manifests: ManifestStore,
    commits: InputCommits,
) -> DiffPlan | None:
    """The datums that may have changed since the job before, when that job's record allows
    planning from the change (``raypachy.pps.diffplan``); None to plan everything."""
    base = host.diff_base(claim.pipeline, claim.job, claim.salt)
    if base is None:
        return None
    old: InputCommits = {(n, r, b): c for n, r, b, c in base.inputs}
    changes = diff_plan(
        spec.input, claim.pipeline, claim.salt, old, commits, host.commit_layers, manifests,
        base.total,
    )  # fmt: skip
    if changes is None or changes.total == 0 or changes.total > max_datums():
        return None  # the full plan says why there are none, or refuses too many
    return changes


def _claims_unchanged_path(
    host: JobHost,
    claim: JobClaim,
    outcome: Outcome,
    previous: dict[str, tuple[str, list[str]]],
    manifests: ManifestStore,
) -> bool:
    """Whether a processed datum writes a path that the previous output holds and that no
    datum of this job owned before: an unchanged datum's (an output path collision)."""
    owned = {p for _, outputs in previous.values() for p in outputs}
    fresh = {p for _, outputs in outcome.upserts.values() for p in outputs} - owned
    if not fresh:
        return False
    layers = host.commit_layers(claim.output_repo, claim.output_commit)
    tree = tree_of(manifests, layers)
    return any(tree.lookup(p) is not None for p in fresh)


def _why_no_datums(
    spec: PipelineSpec, pipeline: str, commits: InputCommits, lister: FileLister
) -> str:
    """Say why a job has no datums, rather than ending as a silent 0/0 success."""
    for leaf in iter_leaves(spec.input, pipeline):
        commit = commits.get(input_key(leaf))
        if commit is None:
            return f"no datums: input {leaf.repo}@{leaf.branch} has no commit yet"
        if not match_items(leaf, commit, lister(leaf.repo, commit)):
            return f"no datums: the glob {leaf.glob} matched nothing in {leaf.repo}@{commit}"
    return "no datums: the inputs matched files, but their combination gives no datum"


def _checkpoint(host: JobHost, pipeline: str, job_id: str, result: BatchResult) -> None:
    good = [list(astuple(r)) for r in result.results if r.state == DatumState.SUCCESS]
    if good:
        host.checkpoint_batch(pipeline, job_id, result.layer, good)


def _datum_result(row: list[Any]) -> DatumResult:
    id_, hash_, state, outputs, attempts, error, duration = row
    return DatumResult(id_, hash_, state, tuple(outputs), attempts, error, duration)


def _resumed(
    checkpoints: list[tuple[ManifestInfo | None, list[list[Any]]]], hashes: dict[str, str]
) -> list[BatchResult]:
    """Checkpointed batches, keeping only datums the job still plans with the same hash."""
    resumed = []
    for layer, rows in checkpoints:
        kept = tuple(
            r for r in (_datum_result(row) for row in rows)
            if hashes.get(r.id) == r.hash
        )  # fmt: skip
        if kept:
            resumed.append(BatchResult(layer, kept))
    return resumed


class SerialExecutor:
    """Runs batches one after the other in this process (tests and small local runs).

    A class pipeline is instantiated once per job run, before its first batch, and its
    ``finish_job`` hook is called after the last.
    """

    def __init__(self, sidecar: Any = None) -> None:
        self.cancelled = False
        self.sidecar = sidecar  # starts the S3 sidecar (see raypachy.pps.worker.run_batch)
        self.on_partial: Callable[[str, dict[str, int]], None] | None = None

    def run(
        self, spec: PipelineSpec, batches: list[BatchSpec], parallelism: int
    ) -> Iterator[BatchResult]:
        from raypachy.pps.datasets import is_dataset_pipeline, not_in_process
        from raypachy.pps.stateful import ClassWorker, is_class_pipeline
        from raypachy.pps.worker import run_batch

        if batches and is_dataset_pipeline(batches[0].spec):
            raise TransformInitError(not_in_process(batches[0].pipeline))
        worker: ClassWorker | None = None
        try:
            for batch in batches:
                if self.cancelled:
                    return
                if worker is None and is_class_pipeline(batch.spec):
                    python = batch.spec["transform"]["python"]
                    worker = ClassWorker.load(batch.storage, python["code"])
                run = worker.run if worker is not None else run_batch
                yield run(batch, self.sidecar, self._ended(batch))
        finally:
            if worker is not None:
                worker.finish()

    def _ended(self, batch: BatchSpec) -> Callable[[DatumResult], None]:
        states: dict[str, int] = {}

        def ended(result: DatumResult) -> None:
            states[result.state] = states.get(result.state, 0) + 1
            if self.on_partial is not None:
                self.on_partial(batch.datums[0].id, dict(states))

        return ended

    def cancel(self) -> None:
        self.cancelled = True
