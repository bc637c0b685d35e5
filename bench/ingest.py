"""Ingest benchmark for the storage engine and PFS library (no Ray involved).

Prints a table, then one JSON line with put_1gib_mb_s, cp_1gib_mb_s, put_10k_small_s,
modify_1_of_10k_s, reput_1gib_s, reput_new_bytes, commit_1_into_1m_ratio and
put_1gib_peak_rss_mib. Run: ``make bench`` or ``python bench/ingest.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_dir, dir_bytes, make_mixed_file, median_time, report, timed
from raypachy.pfs import PFS

GIB = 1 << 30


def _child_put(home: str, path: str) -> None:
    """Runs in a fresh process so that its peak RSS is the put's alone."""
    pfs = PFS.open(home)
    seconds = timed(lambda: pfs.put_file("big@master", "/data.bin", Path(path)))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_kib / 1024}))


def _put_in_child(home: Path, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child-put", str(home), str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _cp_fsync(src: Path, dst: Path) -> float:
    def run() -> None:
        shutil.copyfile(src, dst)
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    return timed(run)


def _commit_one(pfs: PFS, repo: str, counter: list[int]) -> None:
    counter[0] += 1
    pfs.put_file(f"{repo}@master", f"/new/{counter[0]:08d}", b"one small file")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--child-put", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_put:
        _child_put(*args.child_put)
        return

    size = (128 << 20) if args.quick else GIB
    n_large = 50_000 if args.quick else 1_000_000
    work = bench_dir() / "ingest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = work / "mixed.bin"
    make_mixed_file(data, size)
    home = work / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("big")

    # 1 GiB put (in a child process for a clean peak RSS), beside cp + fsync.
    os.sync()
    cp_s = _cp_fsync(data, work / "copy.bin")
    (work / "copy.bin").unlink()
    child = _put_in_child(home, data)
    put_mb_s = size / child["seconds"] / 1e6
    cp_mb_s = size / cp_s / 1e6

    # Re-put of the unchanged file: chunks are hashed and found, nothing new is written.
    storage = home / "storage"
    before = dir_bytes(storage)
    reput_s = timed(lambda: pfs.put_file("big@master", "/data-again.bin", data))
    reput_new = dir_bytes(storage) - before

    # 10,000 small files in one commit, then change one of them.
    small = work / "small"
    small.mkdir()
    for i in range(10_000):
        (small / f"{i:05d}.csv").write_bytes(os.urandom(4096))
    pfs.create_repo("small")
    small_s = timed(lambda: pfs.put_dir("small@master", "/", small))
    modify_s = timed(lambda: pfs.put_file("small@master", "/04242.csv", os.urandom(4096)))

    # One file into an empty repo vs into a repo of a million files.
    pfs.create_repo("empty")
    pfs.create_repo("million")
    build_s = time.perf_counter()
    with pfs.modify("million@master") as m:
        for i in range(n_large):
            m.put(f"/d{i % 1000:03d}/f{i:07d}", b"x")
    build_s = time.perf_counter() - build_s
    counter = [0]
    _commit_one(pfs, "empty", counter)  # warm both paths once
    _commit_one(pfs, "million", counter)
    empty_s = median_time(lambda: _commit_one(pfs, "empty", counter), 15)
    million_s = median_time(lambda: _commit_one(pfs, "million", counter), 15)
    ratio = million_s / empty_s

    result = {
        "put_1gib_mb_s": round(put_mb_s, 1),
        "cp_1gib_mb_s": round(cp_mb_s, 1),
        "put_10k_small_s": round(small_s, 3),
        "modify_1_of_10k_s": round(modify_s, 4),
        "reput_1gib_s": round(reput_s, 3),
        "reput_new_bytes": reput_new,
        "commit_1_into_1m_ratio": round(ratio, 2),
        "put_1gib_peak_rss_mib": round(child["peak_rss_mib"], 1),
    }
    label = f"{size >> 20} MiB" if args.quick else "1 GiB"
    rows = [
        (f"put {label} (MB/s)", f"{put_mb_s:.0f}", f"cp+fsync {cp_mb_s:.0f}; target >= 300"),
        (f"re-put unchanged {label} (s)", f"{reput_s:.3f}", "target <= 1.0"),
        ("re-put new bytes", f"{reput_new}", "target < 1 MB"),
        ("put 10,000 x 4 KiB (s)", f"{small_s:.3f}", "dvc 8.0, git-lfs 10.6; target <= 1.0"),
        ("modify 1 of 10k (s)", f"{modify_s:.4f}", "dvc 2.3; target <= 0.2"),
        ("commit 1 file: empty repo (ms)", f"{empty_s * 1000:.2f}", ""),
        (
            f"commit 1 file: {n_large:,} files (ms)",
            f"{million_s * 1000:.2f}",
            f"ratio {ratio:.2f}; target <= 2",
        ),
        (f"build {n_large:,}-file commit (s)", f"{build_s:.1f}", "setup"),
        (f"peak RSS of the {label} put (MiB)", f"{child['peak_rss_mib']:.0f}", "target < 1024"),
    ]
    report("raypachy ingest (storage + PFS library)", rows, result)


if __name__ == "__main__":
    main()
