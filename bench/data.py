"""Ray Data over raypachy, beside Ray Data over local files, on one local cluster.

- ``ray_data_read_ratio``: a 1 GiB repo of 1,000 files read with ``raypachy.data.read_files``
  vs ``ray.data.read_binary_files`` of the same files on local disk (target >= 0.9).
- ``ray_data_write_ratio``: 1M rows written as Parquet through ``raypachy.data.Datasink`` (one
  commit) vs ``write_parquet`` to a local directory (target >= 0.8).

Each side runs twice, alternating, after a warm-up; the best time counts. Ratios are
throughputs (local time / raypachy time). Last line: one JSON object.
Run: ``python bench/data.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_dir, local_cluster, report
from raypachy.runtime.cluster import RAY_ENV
from raypachy.runtime.state import read_state

RUNS = 2


def _make_files(root: Path, count: int, size: int) -> None:
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"f{i:05d}.bin").write_bytes(os.urandom(size))


def _total_bytes(ds) -> int:  # type: ignore[no-untyped-def]
    """Read every byte (the datasets' own row counts would skip the reading)."""
    sizes = ds.map_batches(lambda b: {"n": [sum(len(x) for x in b["bytes"])]}, batch_format="numpy")
    return int(sizes.sum("n"))


def _best(fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(RUNS):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 files, 100k rows")
    parser.add_argument("--files", type=int, help="how many 1 MiB files to read")
    parser.add_argument("--rows", type=int, help="how many rows to write")
    args = parser.parse_args()
    files = args.files or (100 if args.quick else 1000)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    file_size = 1 << 20

    work = bench_dir() / "data"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    local_files = work / "files"
    _make_files(local_files, files, file_size)
    total = files * file_size

    with local_cluster(work / "home") as (env, api):
        os.environ.update(RAY_ENV)  # before ray is imported: a loopback cluster, no token
        os.environ["RAYPACHY_ADDRESS"] = api
        os.environ["RAYPACHY_HOME"] = env["RAYPACHY_HOME"]  # its API token: for that cluster only
        import ray
        import ray.data

        import raypachy.data
        from raypachy.client import Client

        client = Client(api, home=env["RAYPACHY_HOME"])
        client.create_repo("files")
        client.create_repo("tables")
        client.put_dir("files@master", "/", local_files)
        state = read_state(env["RAYPACHY_HOME"])
        assert state is not None
        ray.init(address=state.gcs_address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            # --- reads ---------------------------------------------------------------------
            def ours() -> None:
                assert _total_bytes(raypachy.data.read_files("files@master:/*")) == total

            def theirs() -> None:
                assert _total_bytes(ray.data.read_binary_files(str(local_files))) == total

            ours(), theirs()  # warm-up: workers, imports, page cache
            read = _best({"raypachy": ours, "local": theirs})

            # --- writes --------------------------------------------------------------------
            table = ray.data.range(rows).map_batches(
                lambda b: {"id": b["id"], "x": b["id"] * 0.5, "tag": b["id"] % 100},
                batch_format="numpy",
            ).materialize()  # fmt: skip
            out = work / "parquet-out"

            def sink() -> None:
                table.write_datasink(raypachy.data.Datasink("tables@master:/t", mode="overwrite"))

            def local() -> None:
                shutil.rmtree(out, ignore_errors=True)
                table.write_parquet(str(out))

            sink(), local()
            write = _best({"raypachy": sink, "local": local})
            written = sum(
                f.size_bytes for f in client.list_files("tables@master", "/t") if f.type == "file"
            )
        finally:
            ray.shutdown()
            client.close()
    shutil.rmtree(work, ignore_errors=True)

    read_ratio = read["local"] / read["raypachy"]
    write_ratio = write["local"] / write["raypachy"]
    gib = total / (1 << 30)
    report(
        f"Ray Data: {files} files ({gib:.2f} GiB) read, {rows:,} rows written as Parquet",
        [
            ("read_files (s)", f"{read['raypachy']:.2f}", f"read_binary_files {read['local']:.2f}"),
            ("ray_data_read_ratio", f"{read_ratio:.2f}", ">= 0.9"),
            ("Datasink, one commit (s)", f"{write['raypachy']:.2f}",
             f"write_parquet {write['local']:.2f}"),
            ("ray_data_write_ratio", f"{write_ratio:.2f}", ">= 0.8"),
            ("Parquet bytes committed", f"{written:,}", ""),
        ],
        {
            "files": files, "bytes": total, "rows": rows,
            "read_files_s": round(read["raypachy"], 3),
            "read_binary_files_s": round(read["local"], 3),
            "ray_data_read_ratio": round(read_ratio, 3),
            "datasink_s": round(write["raypachy"], 3),
            "write_parquet_s": round(write["local"], 3),
            "ray_data_write_ratio": round(write_ratio, 3),
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
