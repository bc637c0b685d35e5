"""Helpers shared by the benchmarks: data generation, timing and the report table."""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table


def make_mixed_file(path: Path, size: int, seed: int = 1) -> None:
    """Half random bytes, half CSV-like text: what a data repo holds."""
    rng = random.Random(seed)
    half = size // 2
    with open(path, "wb") as f:
        left = half
        while left:
            n = min(left, 8 << 20)
            f.write(rng.randbytes(n))
            left -= n
        written = 0
        i = 0
        while written < size - half:
            rows = []
            for _ in range(20000):
                rows.append(
                    f"{i},{rng.randint(0, 10**6)},{rng.random():.6f},sensor-{i % 97},"
                    f"{'ok' if i % 7 else 'fail'}\n"
                )
                i += 1
            block = "".join(rows).encode()[: size - half - written]
            f.write(block)
            written += len(block)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def report(title: str, rows: list[tuple[str, str, str]], result: dict[str, object]) -> None:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("raypachy", justify="right")
    table.add_column("reference / target", justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=110).print(table)
    print(json.dumps(result))


def bench_dir() -> Path:
    base = Path(os.environ.get("RAYPACHY_BENCH_DIR", "/tmp/raypachy-bench"))
    base.mkdir(parents=True, exist_ok=True)
    return base


RAYPACHY = str(Path(sys.executable).with_name("raypachy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_cluster(
    home: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[dict[str, str], str]]:
    """``raypachy up`` (2 CPUs) with its own home and a free API port; yields the CLI's
    environment and the API URL, and runs ``raypachy down`` at the end."""
    port = free_port()
    env = {**os.environ, "RAYPACHY_HOME": str(home), "RAYPACHY_API_PORT": str(port),
           "RAYPACHY_S3_PORT": str(free_port()), **(extra_env or {})}  # fmt: skip
    env.pop("RAYPACHY_ADDRESS", None)
    subprocess.run([RAYPACHY, "up", "--num-cpus", "2"], env=env, check=True, capture_output=True)
    try:
        yield env, f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([RAYPACHY, "down"], env=env, capture_output=True, check=False)
