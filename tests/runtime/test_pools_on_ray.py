"""Class pipelines on the real local cluster: warm actor pools, driven through the CLI.

``__init__`` writes one line per instance (its pid and its actor's name) to a marker file, so
the tests count how many times the "model" was loaded, and in which process.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from raypachy._procs import pid_alive
from tests.conftest import LocalCluster
from tests.runtime.cluster_jobs import first_job, head_job, unique

pytestmark = pytest.mark.ray


def _pipeline_file(tmp_path: Path, repo: str, name: str, options: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(f"""
        import os
        import ray
        import raypachy

        MARKER = {str(tmp_path / "inits")!r}

        @raypachy.pipeline(input=raypachy.pfs("{repo}", glob="/*"), name="{name}", {options})
        class Model:
            def __init__(self):
                actor = ray.get_runtime_context().get_actor_name()
                with open(MARKER, "a") as f:
                    f.write(f"{{os.getpid()}} {{actor}}\\n")
                self.pid = os.getpid()
        """) + textwrap.indent(textwrap.dedent(body), "    "))  # fmt: skip
    return path


def _inits(tmp_path: Path) -> list[tuple[int, str]]:
    marker = tmp_path / "inits"
    lines = marker.read_text().splitlines() if marker.exists() else []
    return [(int(pid), name) for pid, name in (line.split() for line in lines)]


CALL_WRITES_PID = """
    def __call__(self, datum):
        for f in datum.input().rglob("*"):
            if f.is_file():
                (datum.out / f.name).write_text(str(self.pid))
"""

HOOKS = """
    def setup_job(self, job):
        with open(MARKER + ".hooks", "a") as f:
            f.write(f"setup {job.job_id} {self.pid}\\n")

    def finish_job(self, job):
        with open(MARKER + ".hooks", "a") as f:
            f.write(f"finish {job.job_id} {self.pid}\\n")
"""


def test_init_runs_once_per_actor_across_datums_and_warm_jobs(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, pipe = unique("src"), unique("warm")
    c.cli("create", "repo", src)
    for i in range(8):
        c.cli("put", "file", f"{src}@master:/f{i}", "-f", "-", stdin=str(i).encode())
    keep = 40  # long enough for the next commit's job to find the pool warm, even here
    path = _pipeline_file(tmp_path, src, pipe, f"concurrency=2, keep_warm_s={keep}",
                          CALL_WRITES_PID + HOOKS)  # fmt: skip
    c.cli("create", "pipeline", "--python", str(path))
    job = first_job(c, pipe)
    first = _inits(tmp_path)
    assert first and all(pid_alive(pid) for pid, _ in first)  # warm after the job
    assert job["state"] == "success" and job["datums"]["processed"] == 8
    assert 1 <= len(first) <= 2  # at most `concurrency` instances for 8 datums in 8 batches
    pids = {pid for pid, _ in first}
    names = {name for _, name in first}
    assert names <= {f"raypachy:{pipe}:worker:0", f"raypachy:{pipe}:worker:1"}
    client = c.client()
    first_id = job["id"]
    c.cli("put", "file", f"{src}@master:/f8", "-f", "-", stdin=b"8")  # the next job, warm
    job = head_job(c, src)
    assert job["state"] == "success" and job["datums"]["processed"] == 1
    assert _inits(tmp_path) == first  # no __init__ for the second job
    outputs = {int(client.get_file(f"{pipe}@master", f"/f{i}")) for i in range(9)}
    assert outputs <= pids

    def hooks(job_id: str, hook: str) -> list[int]:
        lines = (tmp_path / "inits.hooks").read_text().splitlines()
        return sorted(int(line.split()[2]) for line in lines if line.startswith(f"{hook} {job_id}"))

    # finish_job runs once the job's commit is finished: it may come a moment after the wait.
    deadline = time.monotonic() + 30
    while hooks(job["id"], "finish") != hooks(job["id"], "setup") and time.monotonic() < deadline:
        time.sleep(0.5)
    for job_id in (first_id, job["id"]):  # each worker that ran the job: setup, then finish
        ran = hooks(job_id, "setup")
        assert ran and ran == hooks(job_id, "finish") and set(ran) <= pids

    deadline = time.monotonic() + keep + 60
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(1)
    assert not any(pid_alive(pid) for pid in pids), "the pool outlived keep_warm_s"


def test_keep_warm_zero_releases_at_job_end_and_a_crashed_actor_is_replaced(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, pipe = unique("src"), unique("crash")
    c.cli("create", "repo", src)
    for i in range(4):
        c.cli("put", "file", f"{src}@master:/f{i}", "-f", "-", stdin=str(i).encode())
    crashed = tmp_path / "crashed"
    body = CALL_WRITES_PID.replace(
        "for f in", f"if not os.path.exists({str(crashed)!r}):\n"
        f"            open({str(crashed)!r}, 'w').close()\n"
        "            os._exit(1)  # the actor dies under its batch, once\n"
        "        for f in",
    )  # fmt: skip
    path = _pipeline_file(tmp_path, src, pipe, "concurrency=1, keep_warm_s=0", body)
    c.cli("create", "pipeline", "--python", str(path))
    job = first_job(c, pipe)
    assert job["state"] == "success" and job["datums"]["processed"] == 4, job
    inits = _inits(tmp_path)
    assert crashed.exists() and len(inits) == 2  # the dead actor's replacement loaded again
    assert {name for _, name in inits} == {f"raypachy:{pipe}:worker:0"}
    survivor = inits[-1][0]
    client = c.client()
    outputs = {int(client.get_file(f"{pipe}@master", f"/f{i}")) for i in range(4)}
    assert outputs == {survivor}
    deadline = time.monotonic() + 30
    while pid_alive(survivor) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pid_alive(survivor), "keep_warm_s=0 kept the actor after the job"


def test_init_failure_fails_the_job_with_its_traceback(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, pipe = unique("src"), unique("broken")
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/a", "-f", "-", stdin=b"1")
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent(f"""
        import raypachy

        @raypachy.pipeline(input=raypachy.pfs("{src}", glob="/*"), name="{pipe}")
        class Broken:
            def __init__(self):
                raise RuntimeError("weights not found")

            def __call__(self, datum):
                pass
    """))  # fmt: skip
    c.cli("create", "pipeline", "--python", str(path))
    job = first_job(c, pipe)
    assert job["state"] == "failure"
    assert job["reason"].startswith("Broken.__init__ failed: RuntimeError: weights not found")
    info = json.loads(c.cli("inspect", "job", f"{pipe}@{job['id']}", "-o", "json").stdout)
    assert 'raise RuntimeError("weights not found")' in info["reason"]  # the traceback
    logs = c.cli("logs", "-p", pipe, "--job", job["id"]).stdout.decode()
    assert "workers (failed): Broken.__init__ failed" in logs
    assert f'{path.name}", line 7, in __init__' in logs
    c.cli("delete", "pipeline", pipe)  # frees the shared cluster's CPUs for the next tests


def test_an_actor_dying_on_every_try_fails_its_datums_after_datum_tries(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, pipe = unique("src"), unique("doomed")
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/a", "-f", "-", stdin=b"1")
    body = """
    def __call__(self, datum):
        os._exit(3)
"""
    path = _pipeline_file(tmp_path, src, pipe, "concurrency=1, datum_tries=2", body)
    c.cli("create", "pipeline", "--python", str(path))
    job = first_job(c, pipe)
    assert job["state"] == "failure" and job["datums"]["failed"] == 1
    assert len(_inits(tmp_path)) == 2  # one actor per try, each replaced when it died
    assert "batch task failed" in job["reason"] and "died" in job["reason"].lower()
    c.cli("delete", "pipeline", pipe)  # its replaced actor would stay warm for 60 s


def test_a_class_pipeline_of_another_project_runs_on_its_pool(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    project, src, pipe = unique("team"), unique("src"), unique("pool")
    c.cli("create", "project", project)
    c.cli("create", "repo", f"{project}/{src}")
    c.cli("put", "file", f"{project}/{src}@master:/f0", "-f", "-", stdin=b"0")
    # The pipeline names its project; its input (no project) is read in the same one.
    (tmp_path / project).mkdir()  # (the helper names the file after the pipeline)
    path = _pipeline_file(tmp_path, src, f"{project}/{pipe}", "concurrency=1, keep_warm_s=0",
                          CALL_WRITES_PID)  # fmt: skip
    c.cli("create", "pipeline", "--python", str(path))
    job = first_job(c, f"{project}/{pipe}")
    assert (job["state"], job["project"], job["datums"]["processed"]) == ("success", project, 1)
    [(pid, actor)] = _inits(tmp_path)
    assert actor == f"raypachy:{project}/{pipe}:worker:0"
    assert c.client().get_file(f"{project}/{pipe}@master", "/f0") == str(pid).encode()
    c.cli("delete", "project", project, "--force")
