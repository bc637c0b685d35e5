"""Lazy inputs: bytes fetched from storage by a datum that reads the first 1 MiB of a big file.

One 256 MiB file of random bytes (incompressible: stored bytes = plain bytes; 256 MiB rather
than 1 GiB so it ingests in seconds on a 2-core machine) in a repo on ``file://`` storage; the
same command pipeline (``head -c 1048576``) once with ``lazy: true`` and once without. Bytes
fetched are counted where they leave storage: every chunk read goes through a counting
backend with no memory cache in between (``lazy_bytes_read_mib`` vs
``eager_bytes_read_mib``). The datums run in this process (the worker code a Ray task runs);
commands need root with ``unshare`` (or ``bwrap``). Last line: one JSON object.
Run: ``python bench/lazy.py [--mib N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_dir, report
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.pps.jobrun import SerialExecutor, run_job
from raypachy.pps.spec import PipelineSpec
from raypachy.pps.worker import BatchResult, BatchSpec, run_batch
from raypachy.storage import ChunkStore, open_backend
from raypachy.storage.chunkstore import CHUNK_PREFIX

MiB = 1 << 20


class CountingBackend:
    """The storage backend, counting the chunk bytes read from it."""

    def __init__(self, uri: str) -> None:
        self.inner, self.uri, self.chunk_bytes = open_backend(uri), uri, 0

    def get(self, key: str) -> bytes:
        data = self.inner.get(key)
        if key.startswith(CHUNK_PREFIX):
            self.chunk_bytes += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingExecutor(SerialExecutor):
    def __init__(self, uri: str) -> None:
        super().__init__()
        self.backend = CountingBackend(uri)
        self.reader = ChunkStore(self.backend, cache_bytes=0)  # type: ignore[arg-type]

    def run(
        self, spec: PipelineSpec, batches: list[BatchSpec], parallelism: int
    ) -> Iterator[BatchResult]:
        for batch in batches:
            yield run_batch(batch, reader=self.reader)


def _job(pfs: PFS, pachd: Pachd, name: str, lazy: bool) -> tuple[int, float]:
    spec = {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "big", "glob": "/", "lazy": lazy}},
        "transform": {"cmd": ["sh", "-c", "head -c 1048576 /pfs/big/big.bin > /pfs/out/head"]},
    }
    pachd.pps.create_pipeline(spec)
    claim = pachd.pps.claim_job(name)
    assert claim is not None
    executor = CountingExecutor(pfs.backend.uri)
    start = time.perf_counter()
    job = run_job(claim, pachd.pps, pfs.manifests, pfs.backend.uri, executor, 1)
    seconds = time.perf_counter() - start
    if job.state != "success":
        raise SystemExit(f"the {name} job failed: {job.reason}")
    if len(pfs.get_file(f"{name}@master", "/head")) != MiB:
        raise SystemExit(f"the {name} job did not write 1 MiB")
    return executor.backend.chunk_bytes, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256, help="size of the input file")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lazy-", dir=bench_dir()))
    try:
        pfs = PFS.open(str(home))
        pachd = Pachd(pfs)
        pfs.create_repo("big")
        source = home / "big.bin"
        with open(source, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(MiB))
        with pfs.modify("big@master") as m:
            m.put("/big.bin", source)
        pachd._landed(m.result())  # hooks as on the cluster: the commit is the jobs' input
        source.unlink()
        lazy, lazy_s = _job(pfs, pachd, "lazyhead", True)
        eager, eager_s = _job(pfs, pachd, "eagerhead", False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "file_mib": args.mib,
        "lazy_bytes_read_mib": round(lazy / MiB, 2),
        "eager_bytes_read_mib": round(eager / MiB, 2),
        "lazy_job_s": round(lazy_s, 2),
        "eager_job_s": round(eager_s, 2),
    }
    report(
        f"lazy inputs: head -c 1 MiB of a {args.mib} MiB file",
        [
            ("bytes fetched, lazy", f"{lazy / MiB:.2f} MiB", "about 1 MiB (a chunk or two)"),
            ("bytes fetched, eager", f"{eager / MiB:.2f} MiB", f"{args.mib} MiB (whole file)"),
            ("job, lazy / eager", f"{lazy_s:.2f} s / {eager_s:.2f} s", ""),
        ],
        result,
    )


if __name__ == "__main__":
    main()
