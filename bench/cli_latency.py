"""CLI latency against a running local cluster, beside ``python -c pass`` as the floor.

Starts its own cluster (temporary home, free port), measures p50/p95 of
``raypachy list repo``, ``raypachy list file repo@master`` and ``raypachy put file`` of a
4 KiB file, then a 1 GiB put through the CLI beside the same put through the library
(``--latency-only`` skips it). The CLI runs with its bytecode cached, as an installed one
does (``PYTHONDONTWRITEBYTECODE`` is dropped from its environment).
Last line: one JSON object. Run: ``python bench/cli_latency.py [--quick] [--latency-only]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RAYPACHY, bench_dir, local_cluster, make_mixed_file, report, timed


def _percentiles(
    cmd: list[str], env: dict[str, str], runs: int, stdin: bytes | None = None
) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, input=stdin, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def _library_put(home: Path, data: Path) -> float:
    """The same put through the library, in a fresh process like the CLI's."""
    code = (
        "import sys, time; from pathlib import Path; from raypachy.pfs import PFS; "
        "p = PFS.open(sys.argv[1]); p.create_repo('big'); t = time.perf_counter(); "
        "p.put_file('big@master', '/big.bin', Path(sys.argv[2])); print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home), str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--latency-only", action="store_true", help="Skip the big put.")
    args = parser.parse_args()
    runs = 10 if args.quick else 30
    size = (128 << 20) if args.quick else (1 << 30)
    work = bench_dir() / "cli"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with local_cluster(work / "home") as (env, _):
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed CLI has its .pyc files
        subprocess.run([RAYPACHY, "--version"], env=env, check=True, capture_output=True)
        subprocess.run([RAYPACHY, "create", "repo", "bench"], env=env, check=True)
        for i in range(20):
            subprocess.run(
                [RAYPACHY, "put", "file", f"bench@master:/dir/f{i:02d}.csv", "-f", "-"],
                env=env, input=os.urandom(4096), check=True,
            )  # fmt: skip
        floor = _percentiles([sys.executable, "-c", "pass"], env, runs)
        list_repo = _percentiles([RAYPACHY, "list", "repo"], env, runs)
        list_file = _percentiles([RAYPACHY, "list", "file", "bench@master:/dir"], env, runs)
        small = os.urandom(4096)
        put_small = _percentiles(
            [RAYPACHY, "put", "file", "bench@master:/small.bin", "-f", "-"], env, runs, small
        )
        cli_runs: list[float] = []
        lib_runs: list[float] = []
        rounds = 0 if args.latency_only else 3
        for i in range(rounds):  # alternate; new bytes every round, so nothing dedups
            data = work / f"mixed-{i}.bin"
            make_mixed_file(data, size, seed=100 + i)
            subprocess.run([RAYPACHY, "create", "repo", f"big{i}"], env=env, check=True)
            os.sync()
            cli_runs.append(
                timed(
                    lambda i=i, data=data: subprocess.run(
                        [RAYPACHY, "put", "file", f"big{i}@master:/big.bin", "-f", str(data)],
                        env=env,
                        check=True,
                    )
                )
            )
            os.sync()
            lib_runs.append(_library_put(work / f"library-home-{i}", data))
            data.unlink()
    result: dict[str, object] = {
        "list_repo_p50_ms": round(list_repo[0], 1),
        "list_file_p50_ms": round(list_file[0], 1),
        "put_small_p50_ms": round(put_small[0], 1),
        "python_floor_ms": round(floor[0], 1),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    cli_mb_s = lib_mb_s = 0.0
    if cli_runs:
        cli_s, lib_s = statistics.median(cli_runs), statistics.median(lib_runs)
        cli_mb_s, lib_mb_s = size / cli_s / 1e6, size / lib_s / 1e6
        result["put_1gib_mb_s"] = round(cli_mb_s, 1)
        result["library_put_1gib_mb_s"] = round(lib_mb_s, 1)
    label = "1 GiB" if not args.quick else f"{size >> 20} MiB"
    rows = [
        ("python -c pass (ms, p50 / p95)", f"{floor[0]:.0f} / {floor[1]:.0f}", "the floor"),
        (
            "raypachy list repo (ms)",
            f"{list_repo[0]:.0f} / {list_repo[1]:.0f}",
            "target p50 <= 100; pachctl ~100",
        ),
        ("raypachy list file (ms)", f"{list_file[0]:.0f} / {list_file[1]:.0f}", ""),
        (
            "raypachy put file 4 KiB (ms)",
            f"{put_small[0]:.0f} / {put_small[1]:.0f}",
            "target p50 <= 150",
        ),
    ]
    if cli_runs:
        rows.append((
            f"put {label} via the CLI (MB/s, median of 3)",
            f"{cli_mb_s:.0f}",
            f"library {lib_mb_s:.0f} in the same run; within 20%",
        ))  # fmt: skip
    report("raypachy CLI latency (local cluster, 127.0.0.1)", rows, result)


if __name__ == "__main__":
    main()
