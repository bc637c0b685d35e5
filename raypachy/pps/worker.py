"""Running a batch of datums on one node: no Ray here, the runtime calls this in a task.

For each datum: its input files are written under a scratch ``pfs/<input>/`` directory, the
transform runs (a Python function given a ``DatumContext``, or a command that sees the
directory at ``/pfs``), and whatever it left in ``out/`` becomes the datum's output. Failed
datums are retried ``datum_tries`` times; then ``err_cmd`` may recover them. All outputs of
the batch go into one layer; each datum's stdout and stderr are kept as a log object.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raypachy.pps.code import unpickle_function
from raypachy.pps.datums import Datum
from raypachy.pps.model import DatumState
from raypachy.pps.sandbox import run_command
from raypachy.storage import ChunkStore, FileSetWriter, ManifestStore, open_backend
from raypachy.storage.manifest import ManifestInfo
from raypachy.storage.reader import iter_bytes


@dataclass(frozen=True, slots=True)
class DatumContext:
    """What a Python transform gets for one datum (the same as a command's ``/pfs``).

    ``inputs[name]`` is the local directory holding that input's files for this datum, with
    their full repo paths below it; write results under ``out``.
    """

    inputs: dict[str, Path]
    out: Path
    files: dict[str, list[Path]]
    job_id: str
    datum_id: str
    output_commit_id: str
    pipeline: str

    def input(self, name: str | None = None) -> Path:
        """The directory of ``name``, or of the only input."""
        if name is None:
            if len(self.inputs) != 1:
                raise KeyError(f"this datum has inputs {sorted(self.inputs)}: name one")
            return next(iter(self.inputs.values()))
        return self.inputs[name]


@dataclass(frozen=True, slots=True)
class BatchSpec:
    pipeline: str
    job: str
    output_commit: str
    storage: str
    spec: dict[str, Any]
    datums: tuple[Datum, ...]


@dataclass(frozen=True, slots=True)
class DatumResult:
    id: str
    hash: str
    state: str
    outputs: tuple[str, ...]
    attempts: int
    error: str
    duration: float


@dataclass(frozen=True, slots=True)
class BatchResult:
    layer: ManifestInfo | None
    results: tuple[DatumResult, ...]
    bytes_read: int = 0
    bytes_written: int = 0
    node: str = ""


@dataclass
class _Stores:
    chunks: ChunkStore
    manifests: ManifestStore
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)


_STORES: dict[str, _Stores] = {}


def _stores(uri: str) -> _Stores:
    """One chunk store per process and storage, so its cache serves every batch."""
    stores = _STORES.get(uri)
    if stores is None:
        backend = open_backend(uri)
        stores = _STORES[uri] = _Stores(
            ChunkStore(backend, cache_bytes=256 << 20), ManifestStore(backend)
        )
    return stores


def log_key(pipeline: str, job: str, datum: str) -> str:
    return f"logs/{pipeline}/{job}/{datum}"


class DatumTimeout(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt a Python transform after ``seconds`` (main thread only, as Ray runs tasks)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise DatumTimeout(f"datum timed out after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Runner:
    def __init__(self, batch: BatchSpec, stores: _Stores, root: Path) -> None:
        self.batch = batch
        self.stores = stores
        self.root = root
        t = batch.spec.get("transform", {})
        self.transform = t
        self.tries = int(batch.spec.get("datum_tries", 3))
        from raypachy.pps.units import parse_duration

        timeout = batch.spec.get("datum_timeout")
        self.timeout = parse_duration(timeout, "datum_timeout") if timeout is not None else None
        self.bytes_read = 0
        self.fn: Callable[..., Any] | None = None
        if t.get("python"):
            key = t["python"]["code"]
            fn = stores.functions.get(key)
            if fn is None:
                fn = stores.functions[key] = unpickle_function(
                    stores.chunks.get(bytes.fromhex(key))
                )
            self.fn = fn

    def materialize(self, datum: Datum, pfs: Path) -> dict[str, list[Path]]:
        files: dict[str, list[Path]] = {}
        for item in datum.inputs:
            base = pfs / item.name
            base.mkdir(parents=True, exist_ok=True)
            placed = files.setdefault(item.name, [])
            for path, data in item.files:
                target = base / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as f:
                    if not item.empty_files:
                        for piece in iter_bytes(self.stores.chunks, data):
                            f.write(piece)
                            self.bytes_read += len(piece)
                placed.append(target)
        return files

    def _env(self, datum: Datum) -> dict[str, str]:
        env = {
            "PACH_JOB_ID": self.batch.job,
            "PACH_DATUM_ID": datum.id,
            "PACH_OUTPUT_COMMIT_ID": self.batch.output_commit,
            "PPS_PIPELINE_NAME": self.batch.pipeline,
            **{str(k): str(v) for k, v in self.transform.get("env", {}).items()},
        }
        for item in datum.inputs:
            env[item.name] = (
                f"/pfs/{item.name}{item.path}".rstrip("/")
                if item.path != "/"
                else f"/pfs/{item.name}"
            )
            if item.join_key:
                env[f"PACH_DATUM_{item.name}_JOIN_ON"] = item.join_key
            if item.group_key:
                env[f"PACH_DATUM_{item.name}_GROUP_BY"] = item.group_key
        return env

    def attempt(
        self, datum: Datum, pfs: Path, files: dict[str, list[Path]]
    ) -> tuple[bool, str, bytes]:
        """One try: (succeeded, error, log)."""
        out = pfs / "out"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir()
        if self.fn is not None:
            ctx = DatumContext(
                inputs={item.name: pfs / item.name for item in datum.inputs},
                out=out,
                files=files,
                job_id=self.batch.job,
                datum_id=datum.id,
                output_commit_id=self.batch.output_commit,
                pipeline=self.batch.pipeline,
            )
            buffer = io.StringIO()
            try:
                with (
                    contextlib.redirect_stdout(buffer),
                    contextlib.redirect_stderr(buffer),
                    _deadline(self.timeout),
                ):
                    self.fn(ctx)
                return True, "", buffer.getvalue().encode()
            except Exception as e:
                tb = traceback.format_exc()
                return False, f"{type(e).__name__}: {e}", (buffer.getvalue() + tb).encode()
        stdin = "\n".join(self.transform.get("stdin", [])).encode()
        result = run_command(
            self.transform["cmd"], stdin + (b"\n" if stdin else b""), self._env(datum),
            str(pfs), self.transform.get("working_dir") or "/pfs", self.timeout,
        )  # fmt: skip
        accepted = {0, *self.transform.get("accept_return_code", [])}
        if result.timed_out:
            return False, f"datum timed out after {self.timeout:g}s", result.output
        if result.exit_code in accepted:
            return True, "", result.output
        return False, f"command exited with code {result.exit_code}", result.output

    def recover(self, datum: Datum, pfs: Path) -> tuple[bool, bytes]:
        err_cmd = self.transform.get("err_cmd")
        if not err_cmd:
            return False, b""
        stdin = "\n".join(self.transform.get("err_stdin", [])).encode()
        result = run_command(err_cmd, stdin, self._env(datum), str(pfs), "/pfs", self.timeout)
        return result.exit_code == 0, result.output

    def run(
        self, index: int, datum: Datum, writer: FileSetWriter, owners: dict[str, str]
    ) -> DatumResult:
        start = time.perf_counter()
        pfs = self.root / str(index) / "pfs"
        pfs.mkdir(parents=True)
        log = bytearray()
        ok, error, attempts = False, "", 0
        try:
            files = self.materialize(datum, pfs)
            while attempts < self.tries and not ok:
                attempts += 1
                ok, error, output = self.attempt(datum, pfs, files)
                if attempts > 1:
                    log += f"--- attempt {attempts}\n".encode()
                log += output
        except Exception as e:  # materializing failed: our fault, not the user's
            ok, error = False, f"{type(e).__name__}: {e}"
            log += traceback.format_exc().encode()
        state: DatumState = DatumState.SUCCESS
        outputs: tuple[str, ...] = ()
        if ok:
            outputs = tuple(self._collect(datum, pfs / "out", writer, owners))
        else:
            recovered, output = self.recover(datum, pfs)
            log += output
            state = DatumState.RECOVERED if recovered else DatumState.FAILED
        if log or not ok:
            self.stores.chunks.backend.put(
                log_key(self.batch.pipeline, self.batch.job, datum.id), bytes(log)
            )
        shutil.rmtree(pfs.parent, ignore_errors=True)
        return DatumResult(
            datum.id, datum.hash, state, outputs, attempts, error, time.perf_counter() - start
        )

    def _collect(
        self, datum: Datum, out: Path, writer: FileSetWriter, owners: dict[str, str]
    ) -> list[str]:
        paths = []
        for dirpath, _dirs, names in os.walk(out):
            for name in names:
                local = Path(dirpath) / name
                path = "/" + local.relative_to(out).as_posix()
                if path in owners and owners[path] != datum.id:
                    paths.append(path)  # a collision: the merge fails the job, naming both
                    continue
                owners[path] = datum.id
                writer.put(path, local)
                paths.append(path)
        return sorted(paths)


def run_batch(batch: BatchSpec) -> BatchResult:
    """Run every datum of the batch; return their results and the layer of their outputs."""
    stores = _stores(batch.storage)
    scratch = os.environ.get("RAYPACHY_SCRATCH") or None
    root = Path(tempfile.mkdtemp(prefix="raypachy-batch-", dir=scratch))
    writer = FileSetWriter(stores.chunks, stores.manifests, threads=1)
    try:
        runner = _Runner(batch, stores, root)
        owners: dict[str, str] = {}
        results = tuple(runner.run(i, d, writer, owners) for i, d in enumerate(batch.datums))
        layer = writer.close() if writer.changes else None
        if layer is None:
            writer.abort()
        return BatchResult(layer, results, runner.bytes_read, writer.bytes_in, os.uname().nodename)
    except BaseException:
        writer.abort()
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
