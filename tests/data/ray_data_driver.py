"""A Ray Data driver on the test cluster: runs one scenario, prints its findings as JSON.

Run as ``python ray_data_driver.py SCENARIO REPO...`` with RAY_ADDRESS (the cluster's GCS)
and RAYPACHY_ADDRESS (its API) set. A subprocess, so that the test session never becomes
a Ray driver itself.
"""

from __future__ import annotations

import io
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import ray

import raypachy
import raypachy.data
import raypachy.fs
from raypachy import errors


def setup(client: raypachy.Client, src: str) -> dict[str, object]:
    from PIL import Image

    with client.modify(f"{src}@master") as m:
        for i in range(20):
            m.put(f"/blobs/{i:03d}.bin", bytes([i]) * (1000 + i * 50_000))
        for year, rows in (("2023", range(0, 60)), ("2024", range(60, 100))):
            sink = io.BytesIO()
            pq.write_table(pa.table({"k": list(rows), "v": [r * 2 for r in rows]}), sink)
            m.put(f"/table/year={year}/part.parquet", sink.getvalue())
        m.put("/csv/a.csv", b"x,y\n1,one\n2,two\n")
        m.put("/csv/b.csv", b"x,y\n3,three\n")
        for i, color in enumerate(["red", "green"]):
            png = io.BytesIO()
            Image.new("RGB", (4, 3), color).save(png, format="PNG")
            m.put(f"/img/{i}.png", png.getvalue())
    return {"commit": m.result().id}


def read(client: raypachy.Client, src: str) -> dict[str, object]:
    first = client.inspect_commit(f"{src}@master").id
    ds = raypachy.data.read_files(f"{src}@master:/blobs/*.bin", override_num_blocks=4)
    # A commit lands while the dataset is being consumed: the rows stay on the first one.
    late = f"/blobs/late-{os.getpid()}.bin"
    client.put_file(f"{src}@master", late, b"late")
    rows = ds.take_all()
    selection = raypachy.data.select(client, f"{src}@{first}:/blobs/0*.bin")
    source = raypachy.data.FilesDatasource(selection, client.storage_uri, client.address)
    table = raypachy.data.read_parquet(f"{src}@{first}:/table/**")
    csv = raypachy.data.read_csv(f"{src}@master:/csv")
    images = raypachy.data.read_images(f"{src}@master:/img/*.png")
    return {
        "first": first,
        "paths": sorted(r["path"] for r in rows),
        "expected": sorted(f.path for f in client.list_files(f"{src}@{first}", "/blobs")),
        "late": late,
        "bytes_ok": all(r["bytes"] == client.get_file(f"{src}@{first}", r["path"]) for r in rows),
        "commits": sorted({r["commit"] for r in rows}),
        "estimate": source.estimate_inmemory_data_size(),
        "task_rows": [t.metadata.num_rows for t in source.get_read_tasks(4)],
        "parquet_sum": table.sum("v"),
        "parquet_years": sorted({r["year"] for r in table.take_all()}),
        "csv_rows": sorted((r["x"], r["y"]) for r in csv.take_all()),
        "image_shapes": [list(r["image"].shape) for r in images.take_all()],
        "provenance": [str(c) for c in raypachy.data.provenance_of(table.union(csv))],
    }


def write(client: raypachy.Client, src: str, out: str) -> dict[str, object]:
    before = len(client.list_commits(out, "master")) if client.list_branches(out) else 0
    source = raypachy.data.read_parquet(f"{src}@master:/table/**")
    derived = source.map_batches(lambda b: {"k": b["k"], "w": b["v"] + 1}).repartition(3)
    sink = raypachy.data.Datasink(
        f"{out}@master:/tables/t", provenance=raypachy.data.provenance_of(derived)
    )
    derived.write_datasink(sink)
    files = client.list_files(f"{out}@master", "/tables/t")
    head = client.inspect_commit(f"{out}@master")
    back = pq.read_table(f"{out}@master/tables/t", filesystem=raypachy.fs.RaypachyFileSystem(
        client=client))  # fmt: skip
    raypachy.data.read_csv(f"{src}@master:/csv").write_datasink(
        raypachy.data.Datasink(f"{out}@master:/tables/t", format="csv", mode="overwrite")
    )
    after_overwrite = [f.path for f in client.list_files(f"{out}@master", "/tables/t")]
    empty = raypachy.data.Datasink(f"{out}@master:/empty")
    ray.data.range(10).filter(lambda r: False).write_datasink(empty)  # no rows: no commit
    return {
        "new_commits": len(client.list_commits(out, "master")) - before,
        "files": len(files),
        "rows": back.num_rows,
        "w_sum": pc_sum(back["w"]),
        "provenance": [str(p) for p in head.provenance],
        "sink_commit": sink.commit.id if sink.commit else None,
        "head": head.id,
        "after_overwrite": after_overwrite,
        "empty_commit": empty.commit.id if empty.commit else None,
    }


def pc_sum(column: pa.ChunkedArray) -> int:
    return int(sum(column.to_pylist()))


def failed_write(client: raypachy.Client, src: str, out: str) -> dict[str, object]:
    head = client.inspect_commit(f"{out}@master").id

    def boom(batch: dict[str, object]) -> dict[str, object]:
        if 50 in list(batch["k"]):  # type: ignore[call-overload]
            raise RuntimeError("bad row")
        return batch

    ds = raypachy.data.read_parquet(f"{src}@master:/table/**").map_batches(boom)
    error = ""
    try:
        ds.write_datasink(raypachy.data.Datasink(f"{out}@master:/broken"))
    except Exception as e:
        error = type(e).__name__ + (": bad row" if "bad row" in str(e) else ": " + str(e))
    refused = []
    for target, kw in ((f"{out}@{head}:/x", {}), (f"{out}@master:/x", {"format": "xml"})):
        try:
            raypachy.data.Datasink(target, **kw)
        except errors.InvalidArgumentError as e:
            refused.append(str(e))
    try:
        raypachy.data.read_files(f"{src}@master:/nothing/*")
    except errors.PathNotFoundError as e:
        refused.append(str(e))
    gc_ok = True
    try:
        client.gc()  # no writer lease is left behind by the failed write
    except errors.GCBusyError:
        gc_ok = False
    return {
        "error": error,
        "head_unchanged": client.inspect_commit(f"{out}@master").id == head,
        "broken_visible": any(
            f.path.startswith("/broken") for f in client.list_files(f"{out}@master", "/")
        ),
        "gc_ok": gc_ok,
        "refused": refused,
    }


def main() -> None:
    scenario, *repos = sys.argv[1:]
    env_vars = {}
    if os.environ.get("WORKER_DATA_PLANE"):
        env_vars["RAYPACHY_DATA_PLANE"] = os.environ["WORKER_DATA_PLANE"]
    ray.init(
        address=os.environ["RAY_ADDRESS"], log_to_driver=False,
        runtime_env={"env_vars": env_vars} if env_vars else None,
    )  # fmt: skip
    ray.data.DataContext.get_current().enable_progress_bars = False
    client = raypachy.Client()
    try:
        result = {"setup": setup, "read": read, "write": write, "failed_write": failed_write}[
            scenario
        ](client, *repos)
    finally:
        client.close()
        ray.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
