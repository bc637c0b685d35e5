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
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from raypachy.errors import ConflictError, DatumFailedError
from raypachy.pps.batching import BatchedCommand
from raypachy.pps.code import unpickle_function
from raypachy.pps.codepaths import check_code_paths
from raypachy.pps.datums import Datum
from raypachy.pps.lazy import LazyFile, PipeFeeder
from raypachy.pps.model import DatumState, JobToken, SecretValues
from raypachy.pps.outputs import collect as collect_outputs
from raypachy.pps.sandbox import PFS_ROOT, HiddenHome, run_command
from raypachy.pps.spec import check_input_name
from raypachy.secrets import redact
from raypachy.storage import ChunkStore, FileSetWriter, ManifestStore, open_backend
from raypachy.storage.entries import FileData
from raypachy.storage.manifest import ManifestInfo
from raypachy.storage.reader import iter_bytes


@dataclass(frozen=True, slots=True)
class DatumContext:
    """What a Python transform gets for one datum (the same as a command's ``/pfs``).

    ``inputs[name]`` is the local directory holding that input's files for this datum, with
    their full repo paths below it; write results under ``out``. A lazy input's files are
    named pipes there: read them with ``open(path)``, which streams from storage.
    """

    inputs: dict[str, Path]
    out: Path
    files: dict[str, list[Path]]
    job_id: str
    datum_id: str
    output_commit_id: str
    pipeline: str
    # Lazy inputs' files by input name and repo path, and where their chunks are read.
    lazy: dict[str, dict[str, FileData]] = field(default_factory=dict)
    reader: Any = None

    def open(self, path: str | Path, name: str | None = None) -> BinaryIO:
        """A file of the datum, opened for reading in binary: ``path`` is its repo path
        (``"/images/a.png"``, in input ``name`` or the only input) or its local path under
        ``inputs``. A lazy input's file is streamed from storage as it is read (seekable:
        only the chunks holding the bytes read are fetched); any other is the local file."""
        local = Path(path)
        for input_name, directory in self.inputs.items():
            if local.is_relative_to(directory) and (name is None or name == input_name):
                name, path = input_name, "/" + local.relative_to(directory).as_posix()
                break
        else:
            if name is None and len(self.inputs) == 1:
                name = next(iter(self.inputs))
        if name is None or name not in self.inputs:
            raise KeyError(f"this datum has inputs {sorted(self.inputs)}: name one for {path}")
        repo_path = "/" + str(path).lstrip("/")
        data = self.lazy.get(name, {}).get(repo_path)
        if data is not None:
            return io.BufferedReader(LazyFile(self.reader, data, repo_path), LAZY_READ_BYTES)
        return open(str(self.inputs[name]) + repo_path, "rb")

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
    secrets: SecretValues = field(default_factory=SecretValues)  # what transform.secrets names
    token: JobToken = field(default_factory=JobToken)  # the pipeline's own, for this job


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


def _load(stores: _Stores, key: str) -> Callable[..., Any]:
    fn = stores.functions.get(key)
    if fn is None:
        fn = stores.functions[key] = unpickle_function(stores.chunks.get(bytes.fromhex(key)))
    return fn


def load_transform(storage: str, key: str) -> Callable[..., Any]:
    """The stored Python transform (a function, or a pipeline class), cached per process."""
    return _load(_stores(storage), key)


def log_key(pipeline: str, job: str, datum: str) -> str:
    return f"logs/{pipeline}/{job}/{datum}"


def job_log_key(pipeline: str, job: str) -> str:
    """What a job printed outside any datum (a pipeline class's ``__init__`` failing)."""
    return f"logs/{pipeline}/{job}/job/log"


def live_log_key(pipeline: str, job: str, datum: str) -> str:
    """What a running datum printed so far (deleted when its log is written)."""
    return f"logs/{pipeline}/{job}/live/{datum}"


LIVE_EVERY_S = 1.0
LIVE_BYTES_PER_S = 1 << 20  # a long log is rewritten less often: at most ~1 MiB/s per batch


class _LiveLog:
    """A running datum's output, written to its live log object every ~second.

    One writer thread per batch, started with the first output; the datums of the batch
    run one after the other, so one buffer serves them all in turn.
    """

    def __init__(self, backend: Any, pipeline: str, job: str, hidden: tuple[str, ...] = ()) -> None:
        self.backend, self.pipeline, self.job = backend, pipeline, job
        self.hidden = hidden  # secret values: never written to a log
        self.lock = threading.Lock()
        self.datum = ""
        self.data = bytearray()
        self.flushed = 0  # len(data) at the last write
        self.written = False  # a live object exists for this datum
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()

    def begin(self, datum: str) -> None:
        with self.lock:
            self.datum, self.flushed, self.written = datum, 0, False
            self.data.clear()

    def write(self, piece: bytes) -> None:
        with self.lock:
            self.data += piece
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="live-log", daemon=True)
            self.thread.start()

    def end(self) -> None:
        """The datum's log is written: its live object goes."""
        with self.lock:
            key = live_log_key(self.pipeline, self.job, self.datum) if self.written else None
            self.datum, self.written = "", False
            self.data.clear()
        if key is not None:
            with contextlib.suppress(Exception):
                self.backend.delete(key)

    def close(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        wait = LIVE_EVERY_S
        while not self.stopped.wait(wait):
            # Holding the lock while writing keeps end() from deleting before this write.
            with self.lock:
                if not self.datum or len(self.data) == self.flushed:
                    continue
                text = redact(bytes(self.data).decode("utf-8", "surrogateescape"), self.hidden)
                key = live_log_key(self.pipeline, self.job, self.datum)
                with contextlib.suppress(Exception):  # a missed update is not worth a datum
                    self.backend.put(key, text.encode("utf-8", "surrogateescape"))
                    self.written = True
                self.flushed = len(self.data)
                wait = max(LIVE_EVERY_S, len(self.data) / LIVE_BYTES_PER_S)


class _Output(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a Python transform: kept, and streamed live."""

    def __init__(self, live: _LiveLog) -> None:
        self.live = live
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.live.write(text.encode("utf-8", "surrogateescape"))
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


LAZY_READ_BYTES = 1 << 20  # how much ``datum.open`` reads ahead: a chunk's worth


class DatumTimeout(Exception):
    pass


#: Starts a batch's S3 sidecar (``input.pfs.s3``, ``s3_out``) over the chunk store: a context
#: manager whose value has ``show(inputs, out_dir)`` (the datum's buckets) and ``env()`` (what
#: the datum needs to reach it). The runtime passes the S3 gateway's; nothing here serves HTTP.
SidecarFactory = Callable[[ChunkStore], AbstractContextManager[Any]]


def s3_input_names(spec: dict[str, Any]) -> set[str]:
    """The names of the inputs served through the S3 sidecar instead of ``/pfs``."""
    from raypachy.pps.spec import PfsInput, parse_spec

    leaves = parse_spec(spec).input.leaves()
    return {leaf.input_name for leaf in leaves if isinstance(leaf, PfsInput) and leaf.s3}


@contextlib.contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """Set variables for a Python transform while it runs (a task runs one at a time)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    """Runs a batch's datums one after the other in one scratch ``pfs`` tree.

    The tree is reused: between datums their files are unlinked, which is much cheaper than
    creating and removing directories for every datum, and no datum sees another's files.
    """

    def __init__(
        self, batch: BatchSpec, stores: _Stores, root: Path, sidecar: Any = None,
        reader: ChunkStore | None = None, transform: Callable[..., Any] | None = None,
        home: HiddenHome | None = None,
    ) -> None:  # fmt: skip
        from raypachy.pps.units import parse_duration

        self.batch = batch
        self.reader = reader or stores.chunks  # input chunks: the runtime may inject a cache
        self.sidecar = sidecar
        self.s3_inputs = s3_input_names(batch.spec) if sidecar is not None else set()
        self.s3_out = bool(batch.spec.get("s3_out"))
        self.stores = stores
        self.root = root
        self.batched: BatchedCommand | None = None  # transform.datum_batching's command
        self.pfs = str(root / "pfs")
        self.out = os.path.join(self.pfs, "out")
        self.out_path = Path(self.out)
        os.makedirs(self.out)
        self.input_dirs: dict[str, str] = {}
        self.written: list[str] = []
        self.created_dirs: list[str] = []
        t = batch.spec.get("transform", {})
        self.transform = t
        self.tries = int(batch.spec.get("datum_tries", 3))
        timeout = batch.spec.get("datum_timeout")
        self.timeout = parse_duration(timeout, "datum_timeout") if timeout is not None else None
        self.bytes_read = 0
        self.pipes = PipeFeeder(self.reader, str(root))  # lazy files, fed as they are read
        self.lazy: dict[str, dict[str, FileData]] = {}
        self.secret_env = _secret_env(t, batch.secrets)
        self.hidden = tuple(
            os.fsdecode(v) for name in {s.get("name") for s in t.get("secrets") or []}
            for v in batch.secrets.get(str(name)).values()
        )  # fmt: skip
        self.hide: tuple[str, ...] = ()  # what a command does not see: raypachy's home
        self.home_env: dict[str, str] = {}
        # The token the control plane gave this job: the pipeline's own once auth is active
        # (never its creator's), before that the cluster's. Workers hold no token otherwise.
        if batch.token:
            self.secret_env["RAYPACHY_TOKEN"] = batch.token.value
            self.hidden = (*self.hidden, batch.token.value)
            # A local node's home keeps the cluster's token: a command's namespace covers it.
            # It reaches the API at the control plane's address, which the home would have
            # told (and which a node without a home, a KubeRay worker, has nowhere else).
            own = (str(root), self.pfs, t.get("working_dir") or PFS_ROOT)
            self.hide = home.hides(*own) if home is not None else ()
            if home is not None and home.api_address:
                self.home_env["RAYPACHY_ADDRESS"] = home.api_address
        self.live = _LiveLog(stores.chunks.backend, batch.pipeline, batch.job, self.hidden)
        self.secret_dir, self.binds = _secret_files(t, batch.secrets)
        self.fn: Callable[..., Any] | None = transform
        if t.get("python") and transform is None:
            self.fn = _load(stores, t["python"]["code"])

    # --- the scratch tree ------------------------------------------------------------------

    def _input_dir(self, name: str) -> str:
        base = self.input_dirs.get(name)
        if base is None:
            check_input_name(name)  # a spec stored before names were checked stays inside
            base = self.input_dirs[name] = os.path.join(self.pfs, name)
            os.makedirs(base, exist_ok=True)
        return base

    def _makedirs(self, directory: str) -> None:
        missing = []
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for d in reversed(missing):
            os.mkdir(d)
            self.created_dirs.append(d)

    def materialize(self, datum: Datum) -> dict[str, list[Path]]:
        """Write the datum's input files under ``pfs/<input>/`` (full repo paths)."""
        files: dict[str, list[Path]] = {}
        for item in datum.inputs:
            placed = files.setdefault(item.name, [])
            if item.name in self.s3_inputs:
                continue  # served by the sidecar's bucket, not copied under /pfs
            base = self._input_dir(item.name)
            lazy = item.lazy and not item.empty_files
            for path, data in item.files:
                target = base + path
                parent = os.path.dirname(target)
                if parent != base and not os.path.isdir(parent):
                    self._makedirs(parent)
                if lazy:  # nothing copied: a pipe fed from storage when the datum reads it
                    self.pipes.add(target, data)
                    self.lazy.setdefault(item.name, {})[path] = data
                    self.written.append(target)
                    placed.append(Path(target))
                    continue
                with open(target, "wb") as f:
                    if not item.empty_files:
                        for piece in iter_bytes(self.reader, data):
                            f.write(piece)
                            self.bytes_read += len(piece)
                self.written.append(target)
                placed.append(Path(target))
        return files

    def clean(self) -> None:
        """Remove one datum's files so that the next datum sees only its own."""
        self.pipes.clear()
        self.lazy = {}
        for path in self.written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        for d in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        self.written.clear()
        self.created_dirs.clear()
        _empty(self.out)

    # --- running ---------------------------------------------------------------------------

    def _env(self, datum: Datum) -> dict[str, str]:
        return {**self._base_env(), **self._datum_env(datum)}

    def _base_env(self) -> dict[str, str]:
        """What every datum of the batch sees alike."""
        env = {
            # `python3` in a command is this worker's interpreter, with the same packages.
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "PACH_JOB_ID": self.batch.job,
            "PACH_OUTPUT_COMMIT_ID": self.batch.output_commit,
            # As Pachyderm: the pipeline's plain name, and its project beside it.
            "PPS_PIPELINE_NAME": self.batch.pipeline.rpartition("/")[2],
            "PPS_PROJECT_NAME": self.batch.pipeline.rpartition("/")[0] or "default",
            **{str(k): str(v) for k, v in self.transform.get("env", {}).items()},
            **self.secret_env,
            **self.home_env,
        }
        if self.sidecar is not None:
            env.update(self.sidecar.env())
        return env

    def _datum_env(self, datum: Datum) -> dict[str, str]:
        """The datum's own variables: its id and where each input's files are."""
        env = {"PACH_DATUM_ID": datum.id}
        for item in datum.inputs:
            if item.name in self.s3_inputs:
                continue
            path = item.path.rstrip("/")
            env[item.name] = f"/pfs/{item.name}{path}"
            if item.join_key:
                env[f"PACH_DATUM_{item.name}_JOIN_ON"] = item.join_key
            if item.group_key:
                env[f"PACH_DATUM_{item.name}_GROUP_BY"] = item.group_key
        return env

    def attempt(self, datum: Datum, files: dict[str, list[Path]]) -> tuple[bool, str, bytes]:
        """One try: (succeeded, error, log)."""
        fetched = self.pipes.fetched
        self.pipes.start()
        try:
            ok, error, log = self._attempt(datum, files)
        finally:
            self.pipes.stop()  # read or not, no pipe outlives the try
            self.bytes_read += self.pipes.fetched - fetched
        if self.pipes.error:  # a lazy file was cut short: whatever the transform made of it
            return False, self.pipes.error, log + f"{self.pipes.error}\n".encode()
        return ok, error, log

    def _attempt(self, datum: Datum, files: dict[str, list[Path]]) -> tuple[bool, str, bytes]:
        _empty(self.out)
        if self.sidecar is not None:
            self.sidecar.show(
                {i.name: i.files for i in datum.inputs if i.name in self.s3_inputs},
                self.out if self.s3_out else None,
            )
        if self.fn is not None:
            ctx = DatumContext(
                inputs={item.name: Path(self._input_dir(item.name)) for item in datum.inputs},
                out=self.out_path,
                files=files,
                job_id=self.batch.job,
                datum_id=datum.id,
                output_commit_id=self.batch.output_commit,
                pipeline=self.batch.pipeline,
                lazy=self.lazy,
                reader=_Counted(self) if self.lazy else None,
            )
            buffer = _Output(self.live)
            try:
                with (
                    contextlib.redirect_stdout(buffer),
                    contextlib.redirect_stderr(buffer),
                    _deadline(self.timeout),
                    _environ({**(self.sidecar.env() if self.sidecar else {}), **self.secret_env}),
                ):
                    self.fn(ctx)
                return True, "", buffer.getvalue().encode()
            except Exception as e:
                tb = traceback.format_exc()
                return False, f"{type(e).__name__}: {e}", (buffer.getvalue() + tb).encode()
        stdin = "\n".join(self.transform.get("stdin", [])).encode()
        accepted = {0, *self.transform.get("accept_return_code", [])}
        if self.transform.get("datum_batching"):
            if self.batched is None:
                self.batched = BatchedCommand(
                    self.transform["cmd"], stdin + (b"\n" if stdin else b""), self._base_env(),
                    self.pfs, self.transform.get("working_dir") or "/pfs", self.binds,
                    self.live.write, str(self.root), accepted, self.hide,
                )  # fmt: skip
            return self.batched.run_datum(self._datum_env(datum), self.timeout)
        result = run_command(
            self.transform["cmd"], stdin + (b"\n" if stdin else b""), self._env(datum),
            self.pfs, self.transform.get("working_dir") or "/pfs", self.timeout, self.live.write,
            self.binds, self.hide,
        )  # fmt: skip
        if result.timed_out:
            return False, f"datum timed out after {self.timeout:g}s", result.output
        if result.exit_code in accepted:
            return True, "", result.output
        return False, f"command exited with code {result.exit_code}", result.output

    def recover(self, datum: Datum) -> tuple[bool, bytes]:
        err_cmd = self.transform.get("err_cmd")
        if not err_cmd:
            return False, b""
        stdin = "\n".join(self.transform.get("err_stdin", [])).encode()
        result = run_command(err_cmd, stdin, self._env(datum), self.pfs, "/pfs", self.timeout,
                             self.live.write, self.binds, self.hide)  # fmt: skip
        return result.exit_code == 0, result.output

    def run(self, datum: Datum, writer: FileSetWriter, owners: dict[str, str]) -> DatumResult:
        start = time.perf_counter()
        log = bytearray()
        ok, error, attempts = False, "", 0
        self.live.begin(datum.id)
        try:
            files = self.materialize(datum)
            while attempts < self.tries and not ok:
                attempts += 1
                if attempts > 1:
                    marker = f"--- attempt {attempts}\n".encode()
                    log += marker
                    self.live.write(marker)
                ok, error, output = self.attempt(datum, files)
                log += output
        except Exception as e:  # materializing failed: our fault, not the user's
            ok, error = False, f"{type(e).__name__}: {e}"
            log += traceback.format_exc().encode()
        state: DatumState = DatumState.SUCCESS
        outputs: tuple[str, ...] = ()
        if ok:
            try:
                outputs = tuple(self._collect(datum, writer, owners))
            except DatumFailedError as e:  # a bad output fails this datum only, nothing stored
                ok, error = False, e.message
                log += f"{error}\n".encode()
        if not ok:
            recovered, output = self.recover(datum)
            log += output
            state = DatumState.RECOVERED if recovered else DatumState.FAILED
        if log or not ok:
            # Logs and errors outlive the worker: the node's credentials must not leak into them.
            key = log_key(self.batch.pipeline, self.batch.job, datum.id)
            text = redact(bytes(log).decode("utf-8", "surrogateescape"), self.hidden)
            self.stores.chunks.backend.put(key, text.encode("utf-8", "surrogateescape"))
        self.live.end()
        self.clean()
        duration = time.perf_counter() - start
        error = redact(error, self.hidden)
        return DatumResult(datum.id, datum.hash, state, outputs, attempts, error, duration)

    def _collect(self, datum: Datum, writer: FileSetWriter, owners: dict[str, str]) -> list[str]:
        paths = []
        for path, local in collect_outputs(self.pfs, self.out):  # all checked before any put
            if path in owners and owners[path] != datum.id:
                paths.append(path)  # a collision: the merge fails the job, naming both
                continue
            owners[path] = datum.id
            writer.put(path, Path(local))
            paths.append(path)
        return paths


class _Counted:
    """The runner's chunk reader, counting each chunk ``datum.open`` takes from storage once
    (a chunk read again in one try comes from the chunk store's memory cache)."""

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner
        self.seen: set[bytes] = set()

    def get(self, chunk_id: bytes) -> bytes:
        chunk: bytes = self.runner.reader.get(chunk_id)
        if chunk_id not in self.seen:
            self.seen.add(chunk_id)
            self.runner.bytes_read += len(chunk)
        return chunk


def _secret_env(transform: dict[str, Any], values: SecretValues) -> dict[str, str]:
    """The environment variables ``transform.secrets`` asks for (``{name, key, env_var}``)."""
    env = {}
    for item in transform.get("secrets") or []:
        if item.get("env_var") and item.get("key"):
            value = values.get(str(item["name"])).get(str(item["key"]))
            if value is not None:
                env[str(item["env_var"])] = os.fsdecode(value)
    return env


def _secret_files(
    transform: dict[str, Any], values: SecretValues
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Files for ``transform.secrets`` entries with a ``mount_path``: one private directory
    per secret (in memory, ``/dev/shm``, where the node has it), a file per key; returns the
    directory holding them (removed after the batch) and the (source, mount_path) binds."""
    wanted = [s for s in transform.get("secrets") or [] if s.get("mount_path")]
    if not wanted:
        return None, ()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    root = tempfile.mkdtemp(prefix="raypachy-secrets-", dir=shm)  # mode 0700
    binds = []
    for i, item in enumerate(wanted):
        directory = os.path.join(root, str(i))
        os.mkdir(directory, 0o700)
        for key, value in values.get(str(item["name"])).items():
            fd = os.open(os.path.join(directory, key), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(value)
        binds.append((directory, str(item["mount_path"])))
    return root, tuple(binds)


def _empty(directory: str) -> None:
    """Delete what a transform left in ``directory`` (keeping the directory itself)."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _failed(batch: BatchSpec, message: str) -> BatchResult:
    failed = (DatumResult(d.id, d.hash, DatumState.FAILED, (), 0, message, 0.0)
              for d in batch.datums)  # fmt: skip
    return BatchResult(None, tuple(failed))


def run_batch(
    batch: BatchSpec,
    sidecar: SidecarFactory | None = None,
    on_datum: Callable[[DatumResult], None] | None = None,
    reader: ChunkStore | None = None,
    transform: Callable[..., Any] | None = None,
    home: HiddenHome | None = None,
) -> BatchResult:
    """Run every datum of the batch; return their results and the layer of their outputs.

    ``sidecar`` starts the S3 endpoint that ``input.pfs.s3`` and ``s3_out`` pipelines need.
    ``on_datum`` hears of each datum as it ends (progress), before the batch does.
    ``reader`` reads the datums' input chunks (the node's chunk cache) instead of the store.
    ``transform`` replaces the stored function (a class pipeline's instance).
    ``home``: raypachy's home on this node, which commands acting as the pipeline do not see.
    """
    try:
        check_code_paths(batch.spec.get("transform", {}))  # the code the version recorded
    except ConflictError as e:
        return _failed(batch, e.message)
    needs_s3 = bool(batch.spec.get("s3_out")) or bool(s3_input_names(batch.spec))
    if needs_s3 and sidecar is None:
        return _failed(batch, "this pipeline uses S3 inputs or s3_out, which need the S3 "
                       "sidecar: run it on a raypachy cluster")  # fmt: skip
    stores = _stores(batch.storage)
    if needs_s3:
        assert sidecar is not None
        with sidecar(stores.chunks) as car:
            return _run(batch, stores, car, on_datum, reader, transform, home)
    return _run(batch, stores, None, on_datum, reader, transform, home)


def _run(
    batch: BatchSpec,
    stores: _Stores,
    car: Any,
    on_datum: Callable[[DatumResult], None] | None,
    reader: ChunkStore | None = None,
    transform: Callable[..., Any] | None = None,
    home: HiddenHome | None = None,
) -> BatchResult:
    scratch = os.environ.get("RAYPACHY_SCRATCH") or None
    root = Path(tempfile.mkdtemp(prefix="raypachy-batch-", dir=scratch))
    writer = FileSetWriter(stores.chunks, stores.manifests, threads=1)
    runner = None
    try:
        runner = _Runner(batch, stores, root, car, reader, transform, home)
        owners: dict[str, str] = {}
        results = []
        for d in batch.datums:
            results.append(runner.run(d, writer, owners))
            if on_datum is not None:
                on_datum(results[-1])
        layer = writer.close() if writer.changes else None
        if layer is None:
            writer.abort()
        return BatchResult(layer, tuple(results), runner.bytes_read, writer.bytes_in,
                           os.uname().nodename)  # fmt: skip
    except BaseException:
        writer.abort()
        raise
    finally:
        if runner is not None:
            if runner.batched is not None:
                runner.batched.close()
            runner.live.close()
            if runner.secret_dir is not None:
                shutil.rmtree(runner.secret_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
