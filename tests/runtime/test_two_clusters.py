"""Two control planes on one database: two local clusters (two homes, two Ray heads) keep
their metadata in one PostgreSQL and their data in one S3 bucket (SeaweedFS), and serve the
same repos. Commits from both at once lose nothing; one controller drives a pipeline's job,
and when its cluster is killed mid-job the other cluster finishes the job."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import raypachy
from tests.conftest import RAYPACHY, LocalCluster, free_port
from tests.procs import describe, wait_gone, with_env

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.faults]


def slow_copy(datum):  # type: ignore[no-untyped-def]
    import time

    time.sleep(2.0)
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_text(f.read_text().upper())


def _cluster(home: Path, pg_url: str, storage: str) -> LocalCluster:
    """``raypachy up`` on one database and one storage; again on fresh ports if a port picked
    free was taken meanwhile (the other cluster's Ray processes take ports of their own)."""
    for attempt in range(3):
        port, s3_port = free_port(), free_port()
        env = {**os.environ, "RAYPACHY_HOME": str(home), "RAYPACHY_API_PORT": str(port),
               "RAYPACHY_S3_PORT": str(s3_port),
               "RAYPACHY_CONTROLLER_LEASE_S": "6"}  # fmt: skip
        env.pop("RAYPACHY_ADDRESS", None)
        env.pop("RAYPACHY_METADATA", None)
        cluster = LocalCluster(home, env, f"http://127.0.0.1:{port}",
                               f"http://127.0.0.1:{s3_port}")  # fmt: skip
        done = subprocess.run(
            [RAYPACHY, "up", "--num-cpus", "1", "--metadata", pg_url, "--storage", storage],
            env=env, capture_output=True, timeout=300,
        )  # fmt: skip
        if done.returncode == 0:
            return cluster
        log = home / "logs" / "control-plane.log"
        taken = log.exists() and "Address already in use" in log.read_text()
        cluster.cli("down", timeout=180)
        if not taken or attempt == 2:
            raise AssertionError(done.stderr.decode()[-2000:])
    raise AssertionError("unreachable")


def _kill(home: Path) -> list[int]:
    """SIGKILL every process of a cluster (its Ray head, actors, workers), by pid."""
    pids = with_env("RAYPACHY_HOME", str(home))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


@pytest.fixture
def two_clusters(
    tmp_path: Path, pg_url: str, pg_stores: list, s3_uri: str
) -> Iterator[tuple[LocalCluster, LocalCluster]]:
    a = _cluster(tmp_path / "a", pg_url, s3_uri)
    b: LocalCluster | None = None
    try:
        b = _cluster(tmp_path / "b", pg_url, s3_uri)
        yield a, b
    finally:
        for c in (a, b):
            if c is None:
                continue
            c.close_clients()
            if with_env("RAYPACHY_HOME", str(c.home)):
                c.cli("down", timeout=180)
            left = wait_gone("RAYPACHY_HOME", str(c.home), seconds=30)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            assert not left, "left behind:\n" + describe(left)


def _driver(clusters: dict[str, LocalCluster], pipeline: str, job: str) -> str:
    """Which cluster's controller runs the job (waits until one says so)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for name, c in clusters.items():
            found = c.client().status()["metadata"].get("controllers", {}).get(pipeline, {})
            if found.get("job") == job:
                return name
        time.sleep(0.5)
    seen = {
        name: c.client().status()["metadata"].get("controllers") for name, c in clusters.items()
    }
    raise AssertionError(f"no controller picked up job {job}: {seen}")


def test_two_clusters_share_repos_and_a_killed_one_hands_its_job_over(
    two_clusters: tuple[LocalCluster, LocalCluster],
) -> None:
    a, b = two_clusters
    ca, cb = a.client(), b.client()
    ca.create_repo("words")
    assert [r.name for r in cb.list_repos()] == ["words"]  # one database: the same repos

    # Both write the same branch at once: every commit lands (compare-and-swap in SQL).
    per_side = 8
    errors: list[BaseException] = []

    def write(client, side: str) -> None:  # type: ignore[no-untyped-def]
        try:
            for n in range(per_side):
                client.put_file("words@master", f"/{side}{n:02d}", f"{side} {n}".encode())
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(c, s)) for c, s in ((ca, "a"), (cb, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    files = sorted(f.path for f in cb.list_files("words@master", "/"))
    assert files == sorted(f"/{s}{n:02d}" for s in "ab" for n in range(per_side))
    assert len(ca.list_commits("words")) == 2 * per_side

    # A pipeline whose job outlives one cluster.
    ca.create_pipeline(
        raypachy.pipeline(slow_copy, input=raypachy.pfs("words", glob="/*"), name="upper")
    )
    deadline = time.monotonic() + 60
    while not (jobs := ca.list_jobs("upper")):
        assert time.monotonic() < deadline, "the pipeline made no job"
        time.sleep(0.2)
    [job] = jobs
    clusters = {"a": a, "b": b}
    driver = _driver(clusters, "upper", job.id)
    survivor = clusters["b" if driver == "a" else "a"]
    client = survivor.client()
    deadline = time.monotonic() + 240
    while client.inspect_job("upper", job.id).datums.processed < 2:  # mid-job
        assert time.monotonic() < deadline, client.inspect_job("upper", job.id)
        # One controller drives the job: the other cluster's waits for the pipeline's lease.
        other = client.status()["metadata"]["controllers"].get("upper", {})
        assert other.get("job", "") != job.id, other
        time.sleep(0.5)
    killed = _kill(clusters[driver].home)
    assert killed
    assert wait_gone("RAYPACHY_HOME", str(clusters[driver].home), seconds=30) == []

    done = client.wait_commit_set(job.id, timeout=400)
    assert {c.repo for c in done} >= {"upper"}
    finished = client.inspect_job("upper", job.id)
    assert finished.state == "success", finished
    assert finished.datums.failed == 0
    out = sorted(f.path for f in client.list_files("upper@master", "/"))
    assert out == files
    assert client.get_file("upper@master", "/a03") == b"A 3"
    # The survivor's controller took the pipeline over and ran the job to its end.
    status = client.status()["metadata"]["controllers"]["upper"]
    assert status.get("error") is None and status["pid"] not in killed, status
