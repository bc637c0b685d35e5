"""Lazy inputs: nothing copied before the datum runs; commands read named pipes fed from
storage as they read, Python transforms ``datum.open``. Bytes are counted at the backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import raypachy
from raypachy.pps import queries
from raypachy.pps.jobrun import SerialExecutor, run_job
from raypachy.pps.model import JobInfo
from raypachy.pps.spec import PipelineSpec
from raypachy.pps.worker import BatchResult, BatchSpec, run_batch
from raypachy.storage import ChunkStore, open_backend
from raypachy.storage.chunkstore import CHUNK_PREFIX, chunk_key
from tests.pps.conftest import Local, needs_sandbox

MiB = 1 << 20
BIG = 24 * MiB  # many chunks (about 1 MiB each), small enough to put quickly here


class CountingBackend:
    """A real backend that counts the chunk bytes read from it."""

    def __init__(self, uri: str) -> None:
        self.inner = open_backend(uri)
        self.uri = uri
        self.chunk_bytes = 0

    def get(self, key: str) -> bytes:
        data = self.inner.get(key)
        if key.startswith(CHUNK_PREFIX):
            self.chunk_bytes += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingExecutor(SerialExecutor):
    """Runs batches in this process, reading input chunks through a counting backend (no
    memory cache, so every chunk a datum takes is a read from storage)."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.backend = CountingBackend(uri)
        self.reader = ChunkStore(self.backend, cache_bytes=0)  # type: ignore[arg-type]
        self.results: list[BatchResult] = []

    def run(
        self, spec: PipelineSpec, batches: list[BatchSpec], parallelism: int
    ) -> Iterator[BatchResult]:
        for batch in batches:
            result = run_batch(batch, reader=self.reader)
            self.results.append(result)
            yield result


def _run(local: Local, pipeline: str) -> tuple[JobInfo, CountingExecutor]:
    claim = local.pps.claim_job(pipeline)
    assert claim is not None
    executor = CountingExecutor(local.pfs.backend.uri)
    job = run_job(claim, local.pps, local.pfs.manifests, local.pfs.backend.uri, executor, 1)
    return job, executor


def _cmd_spec(name: str, cmd: str, lazy: bool = True, glob: str = "/", **extra: Any) -> dict:  # type: ignore[type-arg]
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "big", "glob": glob, "lazy": lazy}},
        "transform": {"cmd": ["sh", "-c", cmd], "codePaths": [__file__]},
        **extra,
    }


@pytest.fixture
def big(local: Local) -> bytes:
    data = os.urandom(BIG)
    local.pfs.create_repo("big")
    local.put("big", {"/big.bin": data, "/small.txt": b"hello\n"})
    return data


@needs_sandbox
def test_a_command_reading_1_mib_of_a_lazy_file_fetches_about_1_mib(
    local: Local, big: bytes
) -> None:
    head = "head -c 1048576 /pfs/big/big.bin > /pfs/out/head; cat /pfs/big/small.txt > /pfs/out/s"
    local.create(_cmd_spec("lazyhead", head))
    job, lazy = _run(local, "lazyhead")
    assert job.state == "success", job
    assert local.files("lazyhead") == {"/head": big[:MiB], "/s": b"hello\n"}
    # Chunks are ~1 MiB on average (at most 4): the first few, never the whole file.
    assert 0 < lazy.backend.chunk_bytes <= 10 * MiB < BIG
    assert lazy.results[0].bytes_read <= 10 * MiB  # what the datum reports, counted alike
    local.create(_cmd_spec("eagerhead", head, lazy=False))
    job, eager = _run(local, "eagerhead")
    assert job.state == "success" and local.files("eagerhead")["/head"] == big[:MiB]
    assert eager.backend.chunk_bytes >= BIG  # copied whole before the command ran


@needs_sandbox
def test_a_lazy_datum_that_never_opens_its_pipes_does_not_hang(local: Local, big: bytes) -> None:
    # Pachyderm's gotcha: a writer blocked on a pipe nobody opens. Here nothing waits for it.
    local.create(_cmd_spec("ignores", "ls /pfs/big > /pfs/out/listing"))
    job, run = _run(local, "ignores")
    assert job.state == "success", job
    assert local.files("ignores") == {"/listing": b"big.bin\nsmall.txt\n"}
    assert run.backend.chunk_bytes == 0  # nothing read, nothing fetched


@needs_sandbox
def test_each_open_of_a_lazy_file_and_each_try_reads_it_from_the_start(
    local: Local, big: bytes, tmp_path: Any
) -> None:
    once = tmp_path / "failed-once"
    # Each open is a stream of its own from the first byte: after an early close, after a
    # whole read, and on the retry of a failed try.
    cmd = (f"head -c 10 /pfs/big/big.bin > /pfs/out/ten; if [ ! -e {once} ]; then touch {once}; "
           "exit 3; fi; cat /pfs/big/big.bin > /pfs/out/copy; cat /pfs/big/big.bin > /pfs/out/again")  # fmt: skip
    local.create(_cmd_spec("retried", cmd, datum_tries=2))
    job, _ = _run(local, "retried")
    assert job.state == "success", job
    assert local.files("retried") == {"/ten": big[:10], "/copy": big, "/again": big}


def test_a_python_transform_streams_a_lazy_file_with_datum_open(local: Local, big: bytes) -> None:
    @raypachy.pipeline(input=raypachy.pfs("big", glob="/", lazy=True), name="pyopen")
    def pyopen(datum):  # type: ignore[no-untyped-def]
        with datum.open("/big.bin") as f:
            first = f.read(100)
            f.seek(-100, os.SEEK_END)
            last = f.read()
        (datum.out / "ends").write_bytes(first + last)
        # The files are named pipes under the input: plain open() streams them too.
        pipe = datum.input() / "small.txt"
        (datum.out / "kind").write_text("fifo" if pipe.is_fifo() else "file")
        (datum.out / "small").write_bytes(pipe.read_bytes())
        with datum.open(pipe) as f:
            (datum.out / "small2").write_bytes(f.read())

    local.create(pyopen)
    job, run = _run(local, "pyopen")
    assert job.state == "success", job
    assert local.files("pyopen") == {
        "/ends": big[:100] + big[-100:], "/kind": b"fifo", "/small": b"hello\n",
        "/small2": b"hello\n",
    }  # fmt: skip
    assert 0 < run.backend.chunk_bytes <= 10 * MiB  # the first and last chunks, not 24 MiB


def test_datum_open_names_the_inputs_when_the_file_is_not_found(local: Local) -> None:
    local.pfs.create_repo("a")
    local.pfs.create_repo("b")
    local.put("a", {"/x": b"1"})
    local.put("b", {"/y": b"2"})

    @raypachy.pipeline(input=raypachy.cross(raypachy.pfs("a", lazy=True), raypachy.pfs("b")),
                       name="twoin")  # fmt: skip
    def twoin(datum):  # type: ignore[no-untyped-def]
        with datum.open("/y", "b") as y, datum.open("/x", "a") as x:
            (datum.out / "xy").write_bytes(x.read() + y.read())
        datum.open("/x")  # which input? two

    local.create(twoin)
    job, _ = _run(local, "twoin")
    assert job.state == "failure"
    [datum] = queries.list_datums(local.pps, "twoin", job.id)
    assert "this datum has inputs ['a', 'b']: name one for /x" in datum.error


def _rows(ds):  # type: ignore[no-untyped-def]
    return ds


def test_a_dataset_pipeline_says_lazy_does_not_apply(local: Local) -> None:
    local.pfs.create_repo("big")
    pipe = raypachy.pipeline(_rows, input=raypachy.pfs("big", lazy=True), name="rows", dataset=True)
    warnings = local.pachd.put_pipeline(pipe).warnings
    assert "pipeline rows: input big: lazy is ignored by a dataset pipeline: its rows hold each " \
           "file's bytes" in warnings  # fmt: skip


@needs_sandbox
def test_a_lazy_datum_of_many_files_reads_each_in_turn(local: Local) -> None:
    files = {f"/d/f{i:03d}": os.urandom(1000 + i) for i in range(300)}
    local.pfs.create_repo("big")
    local.put("big", files)
    local.create(_cmd_spec("many", "cat /pfs/big/d/* > /pfs/out/all"))
    job, _ = _run(local, "many")
    assert job.state == "success", job
    assert local.files("many") == {"/all": b"".join(files[p] for p in sorted(files))}


@needs_sandbox
def test_a_lazy_file_cut_short_by_storage_fails_the_datum(local: Local, big: bytes) -> None:
    # The command would see a short file and succeed: the datum must fail instead.
    [data] = [d for p, d in local.pfs.walk_files("big@master") if p == "/big.bin"]
    missing = data.refs[len(data.refs) // 2].chunk
    local.pfs.backend.delete(chunk_key(missing))
    local.create(_cmd_spec("cut", "cat /pfs/big/big.bin > /pfs/out/copy", datum_tries=1))
    job, _ = _run(local, "cut")
    assert job.state == "failure", job
    [datum] = queries.list_datums(local.pps, "cut", job.id)
    assert datum.error.startswith("reading lazy file /")
    assert f"ObjectMissingError: chunk {missing.hex()} is missing" in datum.error


def test_a_feeder_that_fails_answers_readers_with_an_end_of_file(tmp_path: Any) -> None:
    from raypachy.pps.lazy import PipeFeeder
    from raypachy.storage.entries import FileData

    feeder = PipeFeeder(None, str(tmp_path / "gone"))  # no spare dir: renewing a pipe fails
    feeder.add(str(tmp_path / "f"), FileData.empty())
    feeder.start()
    try:
        for _ in range(2):  # the open that broke the feeder, and one after it: neither waits
            with open(tmp_path / "f", "rb") as f:
                assert f.read() == b""
    finally:
        feeder.stop()
    assert feeder.error.startswith("lazy input pipes failed: FileNotFoundError")
