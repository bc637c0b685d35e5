"""Dataset pipelines on Ray Data: a job's new and changed datums in, its output rows out.

The controller runs a dataset pipeline's job as one Ray task, ``raypachy:<pipeline>:<job>:
dataset``, holding no CPU: it reads the datums' files as rows (read tasks reading chunks
straight from storage on the workers), calls the user's function on that dataset, and
writes what it returns through a datasink whose write tasks store each row's bytes as a
file, returning small manifests. The task folds those into one layer and hands the job
runner one batch result, so skipping, carry-over, deletes and collisions are the usual
datum machinery's (``raypachy.pps.merge``). Killing the task (a stopped job) kills what
Ray Data started under it: its tasks and ``map_batches`` actor pools.

Once auth is active the user's function acts as the pipeline, as other pipelines' datums do:
the job's token rides in the DataContext Ray Data hands each of its tasks (never in a
runtime_env, which the dashboard shows), and the tasks run in worker processes marked for
the pipeline, where ``raypachy.connect()`` finds it (``raypachy.secrets.dataset_token``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
import traceback
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa
import ray
import ray.data
import ray.exceptions
from ray.data import Datasink as RayDatasink
from ray.data import Datasource, ReadTask
from ray.data.block import BlockAccessor, BlockMetadata

from raypachy.pps.datasets import INPUT_COLUMNS, OutputRows, fold, missing_columns
from raypachy.pps.model import DatumState
from raypachy.pps.spec import PipelineSpec
from raypachy.pps.worker import (
    BatchResult,
    BatchSpec,
    DatumResult,
    job_log_key,
    load_transform,
)
from raypachy.runtime import metrics
from raypachy.runtime.chunkcache import chunk_reader
from raypachy.runtime.resources import task_options
from raypachy.secrets import DATASET_PIPELINE_ENV, DATASET_TOKEN_KEY, redact
from raypachy.storage import ChunkStore, FileSetWriter, ManifestStore, open_backend
from raypachy.storage.entries import FileData
from raypachy.storage.reader import iter_bytes

SCHEMA = pa.schema([(c, pa.large_binary() if c == "bytes" else pa.string()) for c in INPUT_COLUMNS])
BLOCK_BYTES = 64 << 20  # a read task yields blocks of about this size
WAIT_S = 0.5  # how often the controller looks at a stopped job, its timeout, its progress
PROGRESS_KEY = "dataset-write:"  # write tasks' progress reports, beside batches' datum ids

#: One input file of a datum: (datum id, input name, path, content, empty_files).
Row = tuple[str, str, str, FileData, bool]


@functools.lru_cache(maxsize=4)
def _stores(storage: str) -> tuple[ChunkStore, ManifestStore]:
    backend = open_backend(storage)
    return ChunkStore(backend, cache_bytes=64 << 20), ManifestStore(backend)


def input_rows(datums: Iterable[Any]) -> list[Row]:
    return [
        (d.id, item.name, path, data, item.empty_files)
        for d in datums for item in d.inputs for path, data in item.files
    ]  # fmt: skip


def _split(rows: list[Row], parts: int) -> list[list[Row]]:
    """Contiguous groups of rows of about equal bytes."""
    parts = max(1, min(parts, len(rows)))
    share = max(1, sum(r[3].size for r in rows) // parts)
    groups: list[list[Row]] = [[]]
    size = 0
    for i, row in enumerate(rows):
        left = len(rows) - i
        if groups[-1] and len(groups) < parts and (size >= share or left <= parts - len(groups)):
            groups.append([])
            size = 0
        groups[-1].append(row)
        size += row[3].size
    return groups


def _block(rows: list[Row], contents: list[bytes]) -> pa.Table:
    offsets = array("q", [0])
    for data in contents:
        offsets.append(offsets[-1] + len(data))
    column = pa.Array.from_buffers(
        pa.large_binary(), len(rows),
        [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(contents))],
    )  # fmt: skip
    names = [pa.array([r[i] for r in rows], pa.string()) for i in range(3)]
    return pa.table([*names, column], names=list(INPUT_COLUMNS))


def _read(rows: list[Row], storage: str) -> Iterator[pa.Table]:
    reader = chunk_reader(storage) or _stores(storage)[0]
    batch: list[Row] = []
    contents: list[bytes] = []
    size = 0
    for row in rows:
        data = b"" if row[4] else b"".join(iter_bytes(reader, row[3]))
        batch.append(row)
        contents.append(data)
        size += len(data)
        if size >= BLOCK_BYTES:
            yield _block(batch, contents)
            batch, contents, size = [], [], 0
    if batch:
        yield _block(batch, contents)


class DatumsDatasource(Datasource):  # type: ignore[misc]
    """The files of a run's datums as rows: ``datum_id``, ``input``, ``path``, ``bytes``."""

    def __init__(self, rows: list[Row], storage: str) -> None:
        self.rows = rows
        self.storage = storage

    def get_name(self) -> str:
        return "RaypachyDatums"

    def estimate_inmemory_data_size(self) -> int:
        return sum(r[3].size for r in self.rows)

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        tasks = []
        for group in _split(self.rows, parallelism):
            meta = BlockMetadata(
                num_rows=len(group),
                size_bytes=sum(r[3].size for r in group),
                input_files=None,
                exec_stats=None,
            )
            read = functools.partial(_read, group, self.storage)
            tasks.append(ReadTask(read, meta, schema=SCHEMA, per_task_row_limit=per_task_row_limit))
        return tasks


Written = tuple[str, dict[str, list[str]], str]  # (manifest id or "", outputs by datum, problem)


class OutputSink(RayDatasink):  # type: ignore[misc]
    """Each write task stores its rows' bytes as files and returns the layer naming them.

    With a ``reporter`` (the controller host), each write task also says how many datums it
    wrote rows for: the job's live progress. It is an estimate until the job ends (a datum
    whose rows span tasks counts in each; one that writes no row counts at the end)."""

    def __init__(
        self, pipeline: str, storage: str, datums: frozenset[str],
        reporter: Any = None, job: str = "",
    ) -> None:  # fmt: skip
        self.pipeline, self.storage, self.datums = pipeline, storage, datums
        self.reporter, self.job = reporter, job
        self.written: list[Written] = []

    def get_name(self) -> str:
        return "RaypachyOutput"

    def write(self, blocks: Iterable[Any], ctx: Any) -> Written:
        chunks, manifests = _stores(self.storage)
        writer = FileSetWriter(chunks, manifests, threads=1)
        rows = OutputRows(self.pipeline, self.datums)
        try:
            for block in blocks:
                table = BlockAccessor.for_block(block).to_arrow()
                if not table.num_rows:
                    continue  # a shuffle's empty blocks may have no columns at all
                problem = missing_columns(self.pipeline, table.column_names)
                if problem:
                    writer.abort()
                    return "", {}, problem
                columns = [table.column(c).to_pylist() for c in ("datum_id", "path", "bytes")]
                for datum, path, data in zip(*columns, strict=True):
                    rows.add(writer, datum, path, data)
                if rows.problem:
                    writer.abort()
                    return "", {}, rows.problem
            layer = writer.close().id if writer.changes else ""
            if not layer:
                writer.abort()
            self._report(ctx, len(rows.outputs))
            return layer, rows.outputs, ""
        except BaseException:
            writer.abort()
            raise

    def _report(self, ctx: Any, datums: int) -> None:
        if self.reporter is not None and datums:
            key = f"{PROGRESS_KEY}{getattr(ctx, 'task_idx', id(ctx))}"
            self.reporter.datum_progress.remote(
                self.pipeline, self.job, key, {DatumState.SUCCESS: datums}
            )

    def on_write_complete(self, write_result: Any) -> None:
        self.written = [w for w in write_result.write_returns if w is not None]


_RAISED = re.compile(r"^([A-Za-z_][\w.]*): (.*)$")


def _reason(e: BaseException) -> str:
    """What the user's code raised, in one line: Ray Data wraps a failing UDF's exception
    in its own and keeps only the text of the original, so the first exception line of an
    inner traceback in that text is the cause."""
    for line in str(e).splitlines() if isinstance(e, ray.exceptions.RayError) else []:
        m = _RAISED.match(line)
        if m and not m.group(1).startswith("ray."):
            return f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2)[:500]}"
    first = str(e).strip().splitlines()[:1] or [""]
    return f"{type(e).__name__}: {first[0][:500]}"


def _failed(batch: BatchSpec, error: str) -> BatchResult:
    return BatchResult(None, tuple(
        DatumResult(d.id, d.hash, DatumState.FAILED, (), 1, error, 0.0) for d in batch.datums
    ))  # fmt: skip


def run_dataset(
    batch: BatchSpec, work_options: dict[str, Any], reporter: Any = None
) -> BatchResult:
    """Run the pipeline's function on the batch's datums (all of the job's datums to
    process) and store what it returns; a failure fails every datum, with one line each and
    the traceback in the job's log."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # Every task of the dataset gets a copy of this context: the job's token goes with it.
    token = {"pipeline": batch.pipeline, "token": batch.token.value} if batch.token else None
    context.set_config(DATASET_TOKEN_KEY, token)
    try:
        return _run(batch, work_options, reporter)
    finally:
        context.set_config(DATASET_TOKEN_KEY, None)


def _run(batch: BatchSpec, work_options: dict[str, Any], reporter: Any) -> BatchResult:
    chunks, manifests = _stores(batch.storage)
    started = time.perf_counter()
    ids = frozenset(d.id for d in batch.datums)
    try:
        fn = load_transform(batch.storage, batch.spec["transform"]["python"]["code"])
        source = DatumsDatasource(input_rows(batch.datums), batch.storage)
        ds = ray.data.read_datasource(source, ray_remote_args=dict(work_options))
        out = fn(ds)
        if not isinstance(out, ray.data.Dataset):
            return _failed(batch, (
                f"pipeline {batch.pipeline}: the function returned {type(out).__name__}, not a "
                "ray.data.Dataset: return the dataset of output rows"
            ))  # fmt: skip
        sink = OutputSink(batch.pipeline, batch.storage, ids, reporter, batch.job)
        out.write_datasink(sink, ray_remote_args=dict(work_options))
    except Exception as e:
        tb = redact(traceback.format_exc(), also=[batch.token.value] if batch.token else [])
        chunks.backend.put(job_log_key(batch.pipeline, batch.job), tb.encode())
        return _failed(batch, redact(_reason(e), also=[batch.token.value] if batch.token else []))
    writer = FileSetWriter(chunks, manifests, threads=1)
    outputs, problem = fold(batch.pipeline, writer, sink.written)
    if problem:
        writer.abort()
        return _failed(batch, problem)
    layer = writer.close() if writer.changes else None
    if layer is None:
        writer.abort()
    share = (time.perf_counter() - started) / max(1, len(batch.datums))
    return BatchResult(layer, tuple(
        DatumResult(d.id, d.hash, DatumState.SUCCESS, tuple(sorted(outputs.get(d.id, ()))), 1,
                    "", share)
        for d in batch.datums
    ))  # fmt: skip


@ray.remote(num_cpus=0, max_retries=0)
def run_dataset_task(
    batch: BatchSpec, work_options: dict[str, Any], reporter: Any = None
) -> BatchResult:
    return run_dataset(batch, work_options, reporter)


class DatasetExecutor:
    """A dataset pipeline's job as one Ray task (see the module docstring): every batch the
    job runner plans goes into it, and one result comes back."""

    def __init__(
        self, pipeline: str, job: str, images: str = "off",
        live: Callable[[], bool] | None = None, reporter: Any = None,
    ) -> None:  # fmt: skip
        self.pipeline, self.job, self.images = pipeline, job, images
        self.live = live
        self.reporter = reporter  # the controller host: write tasks report progress to it
        self.ref: Any = None
        self.cancelled = False
        self.on_partial: Callable[[str, dict[str, int]], None] | None = None
        self._written: dict[str, int] = {}  # datums written, by write task
        self._lock = threading.Lock()

    def record(self, batch: str, states: dict[str, int]) -> None:
        """A write task's datums (called on another thread of the controller)."""
        if batch.startswith(PROGRESS_KEY):
            with self._lock:
                self._written[batch] = sum(states.values())

    def _pass_on_progress(self, batch: BatchSpec) -> None:
        with self._lock:
            written = sum(self._written.values())
        if written and self.on_partial is not None:
            done = min(written, len(batch.datums))  # capped: a datum may span write tasks
            self.on_partial(batch.datums[0].id, {DatumState.SUCCESS: done})

    def run(
        self, spec: PipelineSpec, batches: list[BatchSpec], parallelism: int
    ) -> Iterator[BatchResult]:
        if not batches:
            return
        batch = dataclasses.replace(batches[0], datums=tuple(d for b in batches for d in b.datums))
        options = task_options(spec, self.images)
        # The read and write tasks take the pipeline's CPUs, memory and node labels; the task
        # driving the dataset holds nothing, and its runtime_env is inherited by all of them.
        work = {k: options[k] for k in ("num_cpus", "memory", "label_selector") if k in options}
        driver: dict[str, Any] = {"name": f"raypachy:{self.pipeline}:{self.job[:8]}:dataset"}
        runtime_env = dict(options.get("runtime_env", {}))
        if spec.transform.env:  # the function and every task of its dataset see them
            env = {**spec.transform.env, **runtime_env.get("env_vars", {})}
            runtime_env["env_vars"] = env
        if batch.token:  # worker processes of its own, where its token may be read
            env = {**runtime_env.get("env_vars", {}), DATASET_PIPELINE_ENV: self.pipeline}
            runtime_env["env_vars"] = env
        if runtime_env:
            driver["runtime_env"] = runtime_env
        self.ref = run_dataset_task.options(**driver).remote(batch, work, self.reporter)
        timeout = spec.job_timeout_s()
        started = time.monotonic()
        while not self.cancelled:
            ready, _ = ray.wait([self.ref], timeout=WAIT_S)
            if ready:
                break
            self._pass_on_progress(batch)
            if self.live is not None and not self.live():
                self.cancel()  # stopped by the user: its state says so already
                return
            if timeout is not None and time.monotonic() - started > timeout:
                self.cancel()
                yield _failed(batch, f"job timed out after {timeout:g}s")
                return
        if self.cancelled:
            return
        try:
            result: BatchResult = ray.get(self.ref)
        except Exception as e:  # the task itself died
            yield _failed(batch, f"dataset task failed: {type(e).__name__}: {str(e)[:500]}")
            return
        states: dict[str, int] = {}
        for r in result.results:
            states[r.state] = states.get(r.state, 0) + 1
        metrics.record_batch(self.pipeline, states, 0, 0)
        yield result

    def cancel(self) -> None:
        self.cancelled = True
        if self.ref is not None:
            ray.cancel(self.ref, force=True)
