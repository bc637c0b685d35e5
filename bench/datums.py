"""Datum throughput on a local cluster, beside bare Ray tasks doing the same reads and writes.

In one run: a Python pipeline over 10,000 datums (a 4 KiB input file each, a 4 KiB output
each) and plain Ray tasks doing the same reads and writes with the same batching
(``ratio_vs_bare_ray``); one new file into the 10,000 (until its output commit is finished);
the trigger latency (input commit finished -> job running); 1,000 datums of a command
transform; 100 datums reading one 64 MiB input on a cluster whose storage is SeaweedFS, through
the node chunk cache, against the same job on ``file://`` storage (``s3_gets_per_chunk_per_node``,
``s3_read_ratio``); 1,000 datums whose transform loads a "model" (2 s) then works 5 ms, as a
class pipeline (``__init__`` once per pool actor: ``stateful_s``) and as the same code in a
function pipeline (loaded for every datum: ``stateless_s``); with the class pipeline's pool
warm, input commit finished -> its datum starting in the actor
(``warm_trigger_to_first_datum_ms``). Last line: one JSON object.
Run: ``python bench/datums.py [--quick] [--s3-only | --stateful-only | --warm-only]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import raypachy
from bench._common import bench_dir, local_cluster, report
from raypachy.client import Client


def echo_datum(datum):  # type: ignore[no-untyped-def]
    """The measured transform: read the 4 KiB input, write a 4 KiB output."""
    for path in datum.input().iterdir():
        data = path.read_bytes()
        (datum.out / path.name).write_bytes(data[::-1])


LOAD_S, WORK_S = 2.0, 0.005  # the "model": 2 s to load, 5 ms of work per datum


class Model:
    """The measured stateful transform: load once, then 5 ms of work per datum."""

    def __init__(self) -> None:
        time.sleep(LOAD_S)
        self.weights = 2

    def __call__(self, datum):  # type: ignore[no-untyped-def]
        time.sleep(WORK_S)
        for path in datum.input().iterdir():
            (datum.out / path.name).write_bytes(path.read_bytes() * self.weights)


def model_datum(datum):  # type: ignore[no-untyped-def]
    """The same code as a function: nowhere to keep the model, so each datum loads it."""
    Model()(datum)


class Stamp:
    """A warm pool's transform: writes the wall-clock time its datum started in the actor."""

    def __init__(self) -> None:
        time.sleep(LOAD_S)

    def __call__(self, datum):  # type: ignore[no-untyped-def]
        started = time.time()
        for path in datum.input().iterdir():
            (datum.out / path.name).write_text(repr(started))


def _warm_trigger(c: Client, runs: int = 7) -> tuple[dict, list]:  # type: ignore[type-arg]
    """Input commit finished -> the first datum starting in the class pipeline's warm actor
    (same host, so the server's and the actor's clocks are one), median of ``runs`` commits."""
    c.create_repo("warmin")
    c.put_file("warmin@master", "/w", b"x")
    c.create_pipeline(raypachy.pipeline(Stamp, input=raypachy.pfs("warmin", glob="/*"),
                                        name="warm", concurrency=1, keep_warm_s=600))  # fmt: skip
    first = _wait_pipeline_job(c, "warm")  # makes the actor (the load): not measured
    assert first.state == "success", first
    latencies = []
    for i in range(runs):
        landed = c.put_file("warmin@master", f"/w{i}", b"x")
        job = c.wait_job("warm", landed.id, timeout=120)
        assert job.state == "success" and job.datums.processed == 1, job
        started = float(c.get_file(f"warm@{job.output_commit.id}", f"/w{i}"))  # type: ignore[union-attr]
        latencies.append((started - landed.finished.timestamp()) * 1000)  # type: ignore[union-attr]
    c.delete_pipeline("warm")
    ms = statistics.median(latencies)
    result = {"warm_trigger_to_first_datum_ms": round(ms, 1)}
    rows = [("warm pool: commit -> first datum in the actor (ms)", f"{ms:.0f}",
             f"target <= 300; runs {', '.join(f'{x:.0f}' for x in latencies)}")]  # fmt: skip
    return result, rows


def _stateful(c: Client, n: int, work: Path) -> tuple[dict, list]:  # type: ignore[type-arg]
    """The class pipeline and the function pipeline over the same ``n`` datums, one after
    the other on the same cluster (2 actors / 2 batches in flight)."""
    c.create_repo("models")
    local = Path(tempfile.mkdtemp(dir=work))
    for i in range(n):
        (local / f"m{i:04d}").write_bytes(os.urandom(64))
    c.put_dir("models@master", "/", local)
    seconds = {}
    for name, code, options in [
        ("stateful", Model, {"concurrency": 2, "keep_warm_s": 0}),
        ("stateless", model_datum, {"parallelism": 2}),
    ]:
        pipe = raypachy.pipeline(code, input=raypachy.pfs("models", glob="/*"), name=name,
                                 **options)  # fmt: skip
        c.create_pipeline(pipe)
        job = _wait_pipeline_job(c, name)
        assert job.state == "success" and job.datums.processed == n, job
        seconds[name] = (job.finished - job.started).total_seconds()  # type: ignore[operator]
        c.delete_pipeline(name)
    bare_work = n * WORK_S / 2
    target = 2 * LOAD_S + 1.5 * bare_work
    speedup = seconds["stateless"] / seconds["stateful"]
    result = {
        "stateful_datums": n,
        "stateful_s": round(seconds["stateful"], 2),
        "stateless_s": round(seconds["stateless"], 2),
        "stateful_speedup": round(speedup, 1),
    }
    rows = [
        (f"{n:,} datums, class pipeline on 2 actors (s)", f"{seconds['stateful']:.1f}",
         f"target <= {target:.2f} (2 loads + 1.5 x work)"),
        (f"{n:,} datums, same code as a function (s)", f"{seconds['stateless']:.1f}",
         f"speedup {speedup:.1f}x"),
    ]  # fmt: skip
    return result, rows


def _bare_ray(env: dict[str, str], repo_target: str, batches: int, storage: str) -> float:
    """The same reads and writes as plain Ray tasks: read each input's bytes from storage,
    write them to a local file, read it back and store it, per datum, in ``batches`` tasks."""
    code = f"""
import os, sys, tempfile, time, ray
from pathlib import Path
from raypachy.client import Client
from raypachy.storage import ChunkStore, FileSetWriter, ManifestStore, open_backend
from raypachy.storage.reader import read_bytes

c = Client(os.environ["API"])
items = c.walk_data("{repo_target}", "/")
ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)

@ray.remote
def work(part):
    backend = open_backend("{storage}")
    chunks, manifests = ChunkStore(backend, cache_bytes=256 << 20), ManifestStore(backend)
    writer = FileSetWriter(chunks, manifests, threads=1)
    root = Path(tempfile.mkdtemp())
    for path, data in part:
        local = root / path.lstrip("/")
        local.write_bytes(read_bytes(chunks, data)[::-1])
        writer.put("/bare" + path, local)
    writer.close()
    return len(part)

n = {batches}
size = -(-len(items) // n)
parts = [items[i:i + size] for i in range(0, len(items), size)]
start = time.perf_counter()
done = sum(ray.get([work.remote(p) for p in parts]))
print(done / (time.perf_counter() - start))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


READ_BIG = ("wc -c < /pfs/big/data.bin > /pfs/out/$(ls /pfs/many)",)


def _read_job(url: str, home: str, size: int, work: Path) -> tuple[float, float, set[bytes], str]:
    """100 datums (a cross of 100 small files with one ``size``-byte file) that each read the
    big file: the job's seconds, the datums' own seconds (summed), the chunks of its inputs
    and the cluster's storage."""
    c = Client(url, home=home)
    c.create_repo("big")
    c.create_repo("many")
    c.put_file("big@master", "/data.bin", os.urandom(size))
    local = Path(tempfile.mkdtemp(dir=work))
    for i in range(100):
        (local / f"m{i:03d}").write_bytes(b"%d" % i)
    c.put_dir("many@master", "/", local)
    c.create_pipeline({
        "pipeline": {"name": "readbig"},
        "input": {"cross": [{"pfs": {"repo": "big", "glob": "/"}},
                            {"pfs": {"repo": "many", "glob": "/*"}}]},
        "transform": {"cmd": ["sh", "-c", READ_BIG[0]]},
        "parallelism_spec": {"constant": 2},
    })  # fmt: skip
    job = _wait_pipeline_job(c, "readbig")
    assert job.state == "success" and job.datums.processed == 100, job
    chunks = {ref.chunk for repo in ("big", "many")
              for _, data in c.walk_data(f"{repo}@master") for ref in data.refs}  # fmt: skip
    storage = c.storage_uri
    datum_s = sum(d.duration_s for d in c.list_datums("readbig", job.id))
    c.close()
    return (job.finished - job.started).total_seconds(), datum_s, chunks, storage  # type: ignore[operator]


def _cache_fetches(env: dict[str, str], storage: str) -> list[int]:
    """How many chunks each node's chunk cache fetched from ``storage``."""
    from raypachy.runtime.state import read_state

    state = read_state(env["RAYPACHY_HOME"])
    assert state is not None
    code = """
import json, os, ray
ray.init(address=os.environ["RAY_ADDRESS"], namespace="raypachy", log_to_driver=False)
from raypachy.runtime.chunkcache import cache_name
out = []
for node in ray.nodes():
    if node["Alive"]:
        actor = ray.get_actor(cache_name(node["NodeID"]))
        out.append(ray.get(actor.stats.remote(os.environ["STORAGE"]))["fetches"])
print(json.dumps(out))
"""
    run_env = {**env, "RAY_ADDRESS": state.gcs_address, "STORAGE": storage,
               "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def _s3_reads(work: Path, size: int, file_s: float, file_datum_s: float) -> tuple[dict, list]:  # type: ignore[type-arg]
    """The same 100-datum read job on a cluster whose storage is SeaweedFS."""
    from tests.s3server import ACCESS_KEY, SECRET_KEY, start_s3_server

    server = start_s3_server(work / "seaweedfs")
    try:
        server.client().create_bucket(Bucket="bench")
        s3_env = {"RAYPACHY_STORAGE": "s3://bench/datums", "RAYPACHY_S3_ENDPOINT": server.endpoint,
                  "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                  "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
        saved = {k: os.environ.get(k) for k in s3_env}
        os.environ.update(s3_env)
        try:
            with local_cluster(work / "s3home") as (env, url):
                s3_s, s3_datum_s, chunks, storage = _read_job(url, env["RAYPACHY_HOME"], size, work)
                fetches = _cache_fetches(env, storage)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        server.stop()
    per_chunk = max(fetches) / len(chunks)
    ratio = file_s / s3_s
    mib = size >> 20
    result = {"s3_gets_per_chunk_per_node": round(per_chunk, 2), "s3_read_ratio": round(ratio, 2),
              "s3_read_job_s": round(s3_s, 2), "file_read_job_s": round(file_s, 2),
              "s3_read_datums_s": round(s3_datum_s, 2),
              "file_read_datums_s": round(file_datum_s, 2)}  # fmt: skip
    rows = [
        (f"100 datums reading one {mib} MiB input from S3: GETs per chunk per node",
         f"{per_chunk:.2f}", f"{max(fetches)} fetches, {len(chunks)} chunks; target <= 1.0"),
        ("that job on S3 vs on file:// (s)", f"{s3_s:.1f}",
         f"file {file_s:.1f}: ratio {ratio:.2f}; target >= 0.8"),
        ("  the datums' own time, summed, S3 vs file (s)", f"{s3_datum_s:.1f}",
         f"file {file_datum_s:.1f}"),
    ]  # fmt: skip
    return result, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--s3-only", action="store_true", help="only the S3 read job vs file")
    parser.add_argument("--cmd-only", action="store_true",
                        help="only command datums vs batched command datums")  # fmt: skip
    parser.add_argument("--stateful-only", action="store_true",
                        help="only the class pipeline vs function pipeline comparison")  # fmt: skip
    parser.add_argument("--warm-only", action="store_true",
                        help="only the warm pool's trigger to first datum latency")  # fmt: skip
    args = parser.parse_args()
    n = 2000 if args.quick else 10_000
    n_cmd = 200 if args.quick else 1000
    size = (16 if args.quick else 64) << 20
    n_model = 100 if args.quick else 1000
    work = bench_dir() / "datums"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result: dict = {}  # type: ignore[type-arg]
    rows: list = []  # type: ignore[type-arg]
    with local_cluster(work / "home") as (env, url):
        if args.warm_only:
            c = Client(url, home=env["RAYPACHY_HOME"])
            result, rows = _warm_trigger(c)
            c.close()
            report("raypachy warm pool (local cluster, 2 CPUs)", rows, result)
            return
        if args.cmd_only:
            c = Client(url, home=env["RAYPACHY_HOME"])
            result, rows = _commands(c, n_cmd, work)
            c.close()
            report("raypachy command datums (local cluster, 2 CPUs)", rows, result)
            return
        if not (args.s3_only or args.stateful_only):
            result, rows = _measure(env, url, n, n_cmd, work)
        if not args.stateful_only:
            file_s, file_datum_s, _, _ = _read_job(url, env["RAYPACHY_HOME"], size, work)
        if not args.s3_only:
            c = Client(url, home=env["RAYPACHY_HOME"])
            more, more_rows = _stateful(c, n_model, work)
            warm, warm_rows = _warm_trigger(c)
            more, more_rows = {**more, **warm}, more_rows + warm_rows
            c.close()
            result, rows = {**result, **more}, rows + more_rows
    if not args.stateful_only:
        s3_result, s3_rows = _s3_reads(work, size, file_s, file_datum_s)
        result, rows = {**result, **s3_result}, rows + s3_rows
    report("raypachy datums (local cluster, 2 CPUs)", rows, result)


def _wait_pipeline_job(c: Client, pipeline: str) -> raypachy.pps.model.JobInfo:  # type: ignore[name-defined]
    job = c.inspect_pipeline(pipeline).last_job
    assert job is not None
    return c.wait_job(pipeline, job, timeout=1800)


# The same copy with datum batching: one process per batch asks for each datum in turn.
BATCHED_COPY = """
import glob, shutil, raypachy
while raypachy.next_datum():
    for path in glob.glob("/pfs/cmdin/*"):
        shutil.copy(path, "/pfs/out/")
"""
# And as a Python process per datum (what a command that loads anything at start pays).
PYTHON_COPY = """
import glob, shutil, raypachy
for path in glob.glob("/pfs/cmdin/*"):
    shutil.copy(path, "/pfs/out/")
"""


def _commands(c: Client, n_cmd: int, work: Path) -> tuple[dict, list]:  # type: ignore[type-arg]
    """Command datums: `cp` and a Python script in a process per datum, vs datum batching."""
    c.create_repo("cmdin")
    local_cmd = Path(tempfile.mkdtemp(dir=work))
    for i in range(n_cmd):
        (local_cmd / f"c{i:04d}").write_bytes(os.urandom(4096))
    c.put_dir("cmdin@master", "/", local_cmd)
    per_s, datum_ms = {}, {}
    for name, transform in (
        ("copy", {"cmd": ["sh", "-c", "cp /pfs/cmdin/* /pfs/out/"]}),
        ("pycopy", {"cmd": ["python3", "-c", PYTHON_COPY]}),
        ("batched", {"cmd": ["python3", "-c", BATCHED_COPY], "datum_batching": True}),
    ):
        c.create_pipeline({
            "pipeline": {"name": name},
            "input": {"pfs": {"repo": "cmdin", "glob": "/*"}},
            "transform": transform,
            "parallelism_spec": {"constant": 2},
        })  # fmt: skip
        job = _wait_pipeline_job(c, name)
        assert job.state == "success" and job.datums.processed == n_cmd, job
        per_s[name] = n_cmd / (job.finished - job.started).total_seconds()  # type: ignore[operator]
        # What a datum costs on its worker, without the job's fixed costs (Ray workers
        # starting, merging): the mean of the datums' own durations.
        durations = [d.duration_s for d in c.list_datums(name, job.id)]
        datum_ms[name] = 1000 * statistics.mean(durations)
        c.delete_pipeline(name)
    speedup = per_s["batched"] / per_s["copy"]
    vs_python = per_s["batched"] / per_s["pycopy"]
    result = {
        "cmd_datums_per_s": round(per_s["copy"], 1),
        "python_cmd_datums_per_s": round(per_s["pycopy"], 1),
        "batched_cmd_datums_per_s": round(per_s["batched"], 1),
        "batched_cmd_speedup": round(speedup, 2),
        "batched_vs_python_cmd_speedup": round(vs_python, 2),
        "cmd_datum_ms": round(datum_ms["copy"], 2),
        "python_cmd_datum_ms": round(datum_ms["pycopy"], 2),
        "batched_cmd_datum_ms": round(datum_ms["batched"], 2),
        "batched_cmd_datum_speedup": round(datum_ms["copy"] / datum_ms["batched"], 2),
    }
    rows = [
        (f"{n_cmd:,} command datums (datums/s)", f"{per_s['copy']:.0f}", "cp, a process each"),
        (
            f"{n_cmd:,} Python command datums (datums/s)",
            f"{per_s['pycopy']:.0f}",
            "python3 copy, a process each",
        ),
        (
            f"{n_cmd:,} batched command datums (datums/s)",
            f"{per_s['batched']:.0f}",
            f"same Python, datum_batching: {speedup:.1f}x cp, {vs_python:.1f}x per-datum "
            "Python; target >= 5x",
        ),
        (
            "mean time of one datum on its worker (ms): cp / Python / batched",
            f"{datum_ms['copy']:.1f} / {datum_ms['pycopy']:.1f} / {datum_ms['batched']:.1f}",
            f"batched {datum_ms['copy'] / datum_ms['batched']:.1f}x cheaper than cp",
        ),
    ]
    return result, rows


def _measure(env: dict[str, str], url: str, n: int, n_cmd: int, work: Path) -> tuple[dict, list]:  # type: ignore[type-arg]
    c = Client(url, home=env["RAYPACHY_HOME"])
    c.create_repo("inputs")
    local = Path(tempfile.mkdtemp(dir=work))
    for i in range(n):
        (local / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
    c.put_dir("inputs@master", "/", local)

    pipe = raypachy.pipeline(echo_datum, input=raypachy.pfs("inputs", glob="/*"), name="echo",
                             parallelism=2)  # fmt: skip
    c.create_pipeline(pipe)
    job = _wait_pipeline_job(c, "echo")
    assert job.state == "success" and job.datums.processed == n, job
    job_s = (job.finished - job.started).total_seconds()  # type: ignore[operator]
    datums_per_s = n / job_s

    from raypachy.runtime.state import read_state

    state = read_state(env["RAYPACHY_HOME"])
    assert state is not None
    bare_env = {**env, "API": c.address, "RAY_ADDRESS": state.gcs_address,
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    bare_per_s = _bare_ray(bare_env, "inputs@master", 8, c.storage_uri)

    # One new file into the 10,000: until its output commit is finished.
    start = time.perf_counter()
    commit = c.put_file("inputs@master", "/new.bin", os.urandom(4096))
    c.wait_commit_set(commit.id, timeout=600)
    incremental_s = time.perf_counter() - start
    inc_job = c.inspect_job("echo", commit.id)
    assert inc_job.datums.processed == 1 and inc_job.datums.skipped == n, inc_job

    # Trigger latency: input commit finished -> its job running (server clocks).
    latencies = []
    c.create_repo("tick")
    tick = raypachy.pipeline(echo_datum, input=raypachy.pfs("tick", glob="/*"), name="tock")
    c.create_pipeline(tick)
    for i in range(5):
        landed = c.put_file("tick@master", f"/t{i}", b"x")
        job = c.wait_job("tock", landed.id, timeout=120)
        latencies.append((job.started - landed.finished).total_seconds() * 1000)  # type: ignore[operator]
    trigger_ms = statistics.median(latencies)

    cmd_result, cmd_rows = _commands(c, n_cmd, work)

    ratio = datums_per_s / bare_per_s
    result = {
        "datums_per_s": round(datums_per_s, 1),
        "bare_ray_per_s": round(bare_per_s, 1),
        "ratio_vs_bare_ray": round(ratio, 2),
        "incremental_1_of_10k_s": round(incremental_s, 3),
        "trigger_latency_ms": round(trigger_ms, 1),
        **cmd_result,
    }
    rows = [
        (f"{n:,} Python datums (datums/s)", f"{datums_per_s:.0f}", "target >= 1000"),
        (
            "bare Ray, same reads/writes (items/s)",
            f"{bare_per_s:.0f}",
            f"ratio {ratio:.2f}; target >= 0.5",
        ),
        (
            f"1 new file into {n:,} (s)",
            f"{incremental_s:.3f}",
            f"1 processed, {n:,} skipped; target <= 1.0",
        ),
        ("trigger latency, commit -> job running (ms)", f"{trigger_ms:.0f}", "target <= 200"),
        *cmd_rows,
    ]
    c.close()
    return result, rows


if __name__ == "__main__":
    main()
