"""A Python file of decorated pipelines submitted as a Ray job registers them and exits;
the pipelines keep running on the cluster afterwards."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from raypachy.runtime.state import read_state
from tests.conftest import LocalCluster

pytestmark = [
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

EDGES = Path(__file__).parents[2] / "examples" / "edges"


def test_ray_job_submit_registers_pipelines(local_cluster: LocalCluster, tmp_path: Path) -> None:
    from ray.job_submission import JobStatus, JobSubmissionClient

    sys.path.insert(0, str(EDGES))
    from images import draw_images

    state = read_state(str(local_cluster.home))
    assert state is not None
    client = local_cluster.client()
    client.create_repo("images")
    client.put_dir("images@master", "/", draw_images(tmp_path / "images", count=4)[0].parent)

    jobs = JobSubmissionClient(state.dashboard_url)
    job_id = jobs.submit_job(
        entrypoint="python pipelines.py", runtime_env={"working_dir": str(EDGES)}
    )
    deadline = time.monotonic() + 180
    while (status := jobs.get_job_status(job_id)) not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        assert time.monotonic() < deadline, jobs.get_job_logs(job_id)
        time.sleep(1)
    logs = jobs.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs
    assert "registered edges" in logs and "registered montage" in logs

    # The Ray job is over; the pipelines are the cluster's now.
    edges_job = client.inspect_pipeline("edges").last_job
    assert edges_job is not None
    done = client.wait_commit_set(edges_job, timeout=180)
    assert {c.repo for c in done} >= {"edges", "montage"}
    assert sorted(p for p, _ in client.walk_data("edges@master", "/")) == [
        f"/shapes-{i:02d}.png" for i in range(4)
    ]
    assert [p for p, _ in client.walk_data("montage@master", "/")] == ["/montage.png"]
    client.put_file(
        "images@master", "/extra.png", (tmp_path / "images" / "shapes-00.png").read_bytes()
    )
    head = client.inspect_commit("images@master").id
    client.wait_commit_set(head, timeout=180)
    assert client.inspect_job("edges", head).datums.processed == 1
