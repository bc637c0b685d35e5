"""SIGKILL on a real local cluster in the middle of a job: a worker, a pipeline controller,
the metadata actor, the API server actor, then the whole cluster.

Each job must end well, with every output exactly once, and the installation must pass the
consistency check. Where the job was interrupted, datums of batches that had finished are
not run again (the job checkpoints each batch).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import raypachy
from raypachy._procs import process_tree
from raypachy.client import Client
from raypachy.pps.model import JobInfo
from tests.conftest import LocalCluster, start_cluster
from tests.faults.consistency import assert_consistent

pytestmark = [pytest.mark.ray, pytest.mark.faults]


def _pipeline(name: str, repo: str, ctl: Path, seconds: float, victim: bool = False) -> Any:
    """Reverse each file's bytes, taking ``seconds`` a datum; log each run under ``ctl``.

    With ``victim``, the first datum to start writes its pid and hangs, to be killed.
    """
    ctl_dir = str(ctl)

    def reverse(datum):  # type: ignore[no-untyped-def]
        import os
        import time
        from pathlib import Path

        control = Path(ctl_dir)
        if victim:
            try:
                fd = os.open(control / "victim.pid", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                time.sleep(600)  # killed here
        time.sleep(seconds)
        for f in datum.input().rglob("*"):
            if f.is_file():
                (datum.out / f.name).write_bytes(f.read_bytes()[::-1])
        (control / f"ran.{datum.datum_id}.{os.getpid()}.{time.monotonic_ns()}").touch()

    return raypachy.pipeline(reverse, input=raypachy.pfs(repo, glob="/*"), name=name)


@dataclass(frozen=True)
class Run:
    name: str  # the pipeline (and its output repo)
    repo: str  # its input repo
    job: str
    ctl: Path  # where datums log their runs
    expected: dict[tuple[str, str], bytes]


def _setup(client: Client, tmp_path: Path, count: int, seconds: float, victim: bool = False
           ) -> Run:  # fmt: skip
    """An input repo of ``count`` files and the pipeline over it, its first job started."""
    suffix = uuid.uuid4().hex[:8]
    repo, name = f"in{suffix}", f"rev{suffix}"
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    client.create_repo(repo)
    data = {f"/f{i}": os.urandom(1000 + i) for i in range(count)}
    with client.modify(f"{repo}@master") as m:
        for path, payload in data.items():
            m.put(path, payload)
    client.create_pipeline(_pipeline(name, repo, ctl, seconds, victim))
    job = client.inspect_pipeline(name).last_job
    assert job is not None
    expected = {(f"{name}@master", p): d[::-1] for p, d in data.items()}
    expected |= {(f"{repo}@master", p): d for p, d in data.items()}
    return Run(name, repo, job, ctl, expected)


def _runs(ctl: Path) -> collections.Counter[str]:
    """How many times each datum ran to its end."""
    return collections.Counter(p.name.split(".")[1] for p in ctl.glob("ran.*"))


def _wait_for(what: str, check: Callable[[], Any], seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx.HTTPError, raypachy.errors.UnavailableError):
            value = None  # the API is coming back
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _processed(client: Client, name: str, job: str, at_least: int) -> int:
    return int(_wait_for(
        f"{at_least} processed datums",
        lambda: (n := client.inspect_job(name, job).datums.processed) >= at_least and n,
    ))  # fmt: skip


def _ended(client: Client, name: str, job: str) -> JobInfo:
    info: JobInfo = _wait_for(
        "the job to end",
        lambda: (
            (j := client.inspect_job(name, job)).state in ("success", "failure", "killed") and j
        ),
    )
    return info


def _check_outputs(client: Client, run: Run) -> None:
    outputs = sorted(p for p, _ in client.walk_data(f"{run.name}@master", "/"))
    assert outputs == sorted(p for t, p in run.expected if t.startswith(run.name))
    assert_consistent(client, run.expected, repos=[run.name, run.repo])


def test_worker_sigkill_mid_datum_is_retried_without_duplicates(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    client = local_cluster.client()
    run = _setup(client, tmp_path, 6, 0.1, victim=True)
    pid_file = run.ctl / "victim.pid"
    pid = int(_wait_for("the victim datum", lambda: pid_file.exists() and pid_file.read_text()))
    os.kill(pid, signal.SIGKILL)
    done = _ended(client, run.name, run.job)
    assert done.state == "success", done
    assert (done.datums.processed, done.datums.failed) == (6, 0)
    runs = _runs(run.ctl)
    assert len(runs) == 6 and set(runs.values()) == {1}  # no datum ended twice
    _check_outputs(client, run)


def _interrupt_then_finish(
    client: Client, tmp_path: Path, kill: Callable[[str], None], count: int = 8
) -> tuple[JobInfo, int, collections.Counter[str]]:
    run = _setup(client, tmp_path, count, 1.0)
    done_before = _processed(client, run.name, run.job, count // 2 + 1)
    kill(run.name)
    done = _ended(client, run.name, run.job)
    assert done.state == "success", done
    runs = _runs(run.ctl)
    assert len(runs) == count
    _check_outputs(client, run)
    return done, done_before, runs


def test_controller_sigkill_mid_job_resumes_the_job(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    client = local_cluster.client()
    pids: list[int] = []

    def kill(name: str) -> None:
        pids.append(client.status()["metadata"]["controllers"][name]["pid"])
        os.kill(pids[0], signal.SIGKILL)

    done, done_before, runs = _interrupt_then_finish(client, tmp_path, kill)
    # Checkpointed batches are not run again: only datums unfinished at the kill may rerun.
    assert sum(n - 1 for n in runs.values()) <= 8 - done_before
    assert done.datums.processed == 8
    name = done.pipeline
    assert client.status()["metadata"]["controllers"][name]["pid"] != pids[0]


def test_metadata_actor_sigkill_mid_job(local_cluster: LocalCluster, tmp_path: Path) -> None:
    client = local_cluster.client()

    def kill(name: str) -> None:
        os.kill(client.status()["metadata"]["pid"], signal.SIGKILL)

    done, _, runs = _interrupt_then_finish(client, tmp_path, kill)
    assert done.datums.processed == 8 and max(runs.values()) == 1


def test_api_actor_sigkill_mid_job(local_cluster: LocalCluster, tmp_path: Path) -> None:
    client = local_cluster.client()

    def kill(name: str) -> None:
        os.kill(client.status()["api"]["pid"], signal.SIGKILL)

    done, _, runs = _interrupt_then_finish(client, tmp_path, kill)
    assert done.datums.processed == 8 and max(runs.values()) == 1


def test_whole_cluster_sigkill_mid_job_then_up_resumes(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "home")
    try:
        client = cluster.client()

        def kill(name: str) -> None:
            state = json.loads((cluster.home / "cluster.json").read_text())
            victims = process_tree(state["ray_pid"]) | process_tree(state["control_pid"])
            for pid in victims:  # every process this cluster's `up` started, at once
                with contextlib.suppress(ProcessLookupError):  # a worker that just ended
                    os.kill(pid, signal.SIGKILL)
            cluster.cli("up", "--num-cpus", "2", timeout=180)

        done, done_before, runs = _interrupt_then_finish(client, tmp_path, kill)
        assert done.datums.processed == 8
        assert sum(n - 1 for n in runs.values()) <= 8 - done_before
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)
