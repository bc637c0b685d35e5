"""Dataset pipelines (``dataset=True``) on the real local cluster: incremental Ray Data.

The map in each pipeline appends the paths it sees to a marker file, so the tests know which
datums a job ran the dataset on.
"""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

import raypachy
from raypachy._procs import pid_alive
from tests.conftest import LocalCluster
from tests.runtime.cluster_jobs import first_job, head_job, unique

pytestmark = pytest.mark.ray


def _seen(marker: Path) -> list[str]:
    return sorted(marker.read_text().split()) if marker.exists() else []


def test_a_dataset_pipeline_runs_only_new_datums_and_drops_deleted_ones(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, pipe = unique("dsrc"), unique("upper")
    marker = tmp_path / "seen"
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/a.txt", "-f", "-", stdin=b"alpha")
    c.cli("put", "file", f"{src}@master:/b.txt", "-f", "-", stdin=b"beta")
    path = tmp_path / "upper.py"
    path.write_text(textwrap.dedent(f"""
        import os
        import raypachy

        MARKER = {str(marker)!r}

        class Upper:
            # An actor pool: __init__ once per actor, then batch after batch.
            def __init__(self):
                self.pid = os.getpid()

            def __call__(self, batch):
                with open(MARKER, "a") as f:
                    f.write("".join(p + "\\n" for p in batch["path"]))
                return {{
                    "datum_id": batch["datum_id"],
                    "path": ["/upper" + p for p in batch["path"]],
                    "bytes": [b.upper() for b in batch["bytes"]],
                }}

        @raypachy.pipeline(input=raypachy.pfs("{src}", glob="/*"), name="{pipe}", dataset=True)
        def upper(ds):
            return ds.map_batches(Upper, concurrency=1, batch_size=8)
    """))  # fmt: skip
    c.cli("create", "pipeline", "--python", str(path))
    job = first_job(c, pipe)
    assert job["state"] == "success", job["reason"]
    assert job["datums"]["processed"] == 2
    client = c.client()
    assert client.get_file(f"{pipe}@master", "/upper/a.txt") == b"ALPHA"
    assert client.get_file(f"{pipe}@master", "/upper/b.txt") == b"BETA"
    assert _seen(marker) == ["/a.txt", "/b.txt"]

    # One new file: the dataset holds only its datum; the others keep their outputs.
    c.cli("put", "file", f"{src}@master:/c.txt", "-f", "-", stdin=b"gamma")
    job = head_job(c, src)
    assert job["state"] == "success", job["reason"]
    assert (job["datums"]["processed"], job["datums"]["skipped"]) == (1, 2)
    assert _seen(marker) == ["/a.txt", "/b.txt", "/c.txt"]
    files = {f.path for f in client.list_files(f"{pipe}@master", "/upper")}
    assert files == {"/upper/a.txt", "/upper/b.txt", "/upper/c.txt"}

    # A deleted file's output goes, a changed file's is made again; provenance follows.
    c.cli("delete", "file", f"{src}@master:/a.txt")
    c.cli("put", "file", f"{src}@master:/b.txt", "-f", "-", stdin=b"bravo")
    job = head_job(c, src)
    assert job["state"] == "success", job["reason"]
    assert (job["datums"]["processed"], job["datums"]["skipped"]) == (1, 1)
    assert _seen(marker) == ["/a.txt", "/b.txt", "/b.txt", "/c.txt"]
    files = {f.path for f in client.list_files(f"{pipe}@master", "/upper")}
    assert files == {"/upper/b.txt", "/upper/c.txt"}
    assert client.get_file(f"{pipe}@master", "/upper/b.txt") == b"BRAVO"
    head = client.inspect_commit(f"{src}@master")
    out = client.inspect_commit(f"{pipe}@master")
    assert f"{src}@{head.id}" in [str(p) for p in out.provenance]
    c.cli("delete", "pipeline", pipe)


def test_dataset_pipeline_from_the_python_api_and_its_bad_outputs(
    local_cluster: LocalCluster,
) -> None:
    c = local_cluster
    src, good, bad, foreign = unique("nums"), unique("total"), unique("nopath"), unique("foreign")
    client = c.client()
    client.create_repo(src)
    with client.modify(f"{src}@master") as m:
        m.put("/x/1", b"1")
        m.put("/x/2", b"2")
        m.put("/y/5", b"5")

    def total(ds):  # type: ignore[no-untyped-def]
        # One datum per directory; its rows are its files: one output file per datum.
        sums = ds.groupby("datum_id").map_groups(
            lambda g: {
                "datum_id": g["datum_id"][:1],
                "path": ["/sum" + g["path"][0].rsplit("/", 1)[0]],
                "bytes": [str(sum(int(b) for b in g["bytes"])).encode()],
            }
        )
        return sums

    client.create_pipeline(
        raypachy.pipeline(total, input=raypachy.pfs(src, glob="/*"), name=good, dataset=True)
    )
    job = first_job(c, good)
    assert job["state"] == "success", job["reason"]
    assert client.get_file(f"{good}@master", "/sum/x") == b"3"
    assert client.get_file(f"{good}@master", "/sum/y") == b"5"

    def no_path(ds):  # type: ignore[no-untyped-def]
        return ds.map(lambda r: {"datum_id": r["datum_id"], "size": len(r["bytes"])})

    client.create_pipeline(
        raypachy.pipeline(no_path, input=raypachy.pfs(src, glob="/*"), name=bad, dataset=True)
    )
    job = first_job(c, bad)
    assert job["state"] == "failure"
    assert "has no column path, bytes (it has datum_id, size)" in job["reason"]
    assert not client.list_files(f"{bad}@master", "/")  # nothing of it is visible

    def other_datum(ds):  # type: ignore[no-untyped-def]
        return ds.map(lambda r: {"datum_id": "f" * 32, "path": r["path"], "bytes": r["bytes"]})

    client.create_pipeline(
        raypachy.pipeline(
            other_datum, input=raypachy.pfs(src, glob="/*"), name=foreign, dataset=True
        )
    )
    job = first_job(c, foreign)
    assert job["state"] == "failure"
    assert "which is not a datum of this run" in job["reason"]

    def broken(ds):  # type: ignore[no-untyped-def]
        def explode(batch):  # type: ignore[no-untyped-def]
            raise ValueError(f"no model for {len(batch['path'])} file(s)")

        return ds.map_batches(explode)

    crash = unique("crash")
    client.create_pipeline(
        raypachy.pipeline(broken, input=raypachy.pfs(src, glob="/"), name=crash, dataset=True)
    )
    job = first_job(c, crash)
    assert job["state"] == "failure"
    assert re.search(r": ValueError: no model for [123] file\(s\)$", job["reason"]), job["reason"]
    log = c.cli("logs", "-p", crash, "--job", job["id"]).stdout.decode()
    assert 'raise ValueError(f"no model for' in log, log
    for name in (good, bad, foreign, crash):
        client.delete_pipeline(name)


def test_stopping_a_dataset_job_kills_its_run(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    src, pipe = unique("slow"), unique("stuck")
    marker = tmp_path / "pids"
    client = c.client()
    client.create_repo(src)
    client.put_file(f"{src}@master", "/a", b"1")

    def stuck(ds):  # type: ignore[no-untyped-def]
        def wait(batch):  # type: ignore[no-untyped-def]
            import os
            import time

            with open(str(marker), "a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(600)
            return batch

        return ds.map_batches(wait)

    client.create_pipeline(
        raypachy.pipeline(stuck, input=raypachy.pfs(src, glob="/*"), name=pipe, dataset=True)
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    [pid] = [int(p) for p in marker.read_text().split()]
    job_id = client.inspect_pipeline(pipe).last_job
    assert job_id is not None
    client.stop_job(pipe, job_id)
    assert client.wait_job(pipe, job_id, timeout=60).state == "killed"
    deadline = time.monotonic() + 60
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pid_alive(pid), "the dataset's task outlived its stopped job"
    client.delete_pipeline(pipe)


def test_a_running_dataset_job_shows_its_datums_as_their_rows_are_written(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, pipe = unique("dslive"), unique("slow")
    client = c.client()
    client.create_repo(src)
    with client.modify(f"{src}@master") as m:
        for i in range(8):
            m.put(f"/f{i}.txt", b"x")
    path = tmp_path / "slow.py"
    path.write_text(textwrap.dedent(f"""
        import time
        import raypachy

        def slow(batch):
            time.sleep(1.5)  # each datum takes a while: the job is seen half done
            return {{"datum_id": batch["datum_id"], "path": batch["path"],
                     "bytes": batch["bytes"]}}

        @raypachy.pipeline(input=raypachy.pfs("{src}", glob="/*"), name="{pipe}", dataset=True)
        def slow_copy(ds):
            return ds.map_batches(slow, batch_size=1)
    """))  # fmt: skip
    c.cli("create", "pipeline", "--python", str(path))
    deadline = time.monotonic() + 240
    while (job_id := client.inspect_pipeline(pipe).last_job) is None:
        assert time.monotonic() < deadline, "no job"
        time.sleep(0.2)
    seen: set[int] = set()
    while (job := client.inspect_job(pipe, job_id)).state in ("created", "starting", "running"):
        assert time.monotonic() < deadline, f"job still {job.state}: {seen}"
        seen.add(job.datums.processed)
        time.sleep(0.2)
    assert job.state == "success", job.reason
    assert job.datums.processed == 8
    assert any(0 < n < 8 for n in seen), f"no progress seen while running: {sorted(seen)}"
