"""What a Ray user sees: readable actor and task names, and raypachy metrics on the
Prometheus endpoint Ray exports."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

import raypachy
from raypachy.runtime.state import read_state
from tests.conftest import LocalCluster

pytestmark = [
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def touch(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_bytes(f.read_bytes() * 2)


def _metric(text: str, name: str, pipeline: str, state: str | None = None) -> float:
    """Sum of a metric's samples; Ray exports user metrics with a ``ray_`` prefix."""
    total = 0.0
    for line in text.splitlines():
        ours = line.startswith(f"ray_{name}{{") and f'pipeline="{pipeline}"' in line
        if ours and (state is None or f'state="{state}"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_names_and_metrics(local_cluster: LocalCluster) -> None:
    state = read_state(str(local_cluster.home))
    assert state is not None and state.metrics_url
    client = local_cluster.client()
    repo, name = "m" + uuid.uuid4().hex[:8], "metrics" + uuid.uuid4().hex[:6]
    client.create_repo(repo)
    with client.modify(f"{repo}@master") as m:
        for i in range(5):
            m.put(f"/f{i}", b"12345")
    client.create_pipeline(raypachy.pipeline(touch, input=raypachy.pfs(repo, glob="/*"), name=name))
    job_id = client.inspect_pipeline(name).last_job
    assert job_id is not None
    job = client.wait_job(name, job_id, timeout=120)
    assert job.state == "success", job.reason

    deadline, text = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        text = httpx.get(state.metrics_url, timeout=5).text
        if _metric(text, "raypachy_datums_total", name, "success") >= 5 and _metric(
            text, "raypachy_job_seconds_count", name
        ):
            break
        time.sleep(1)
    assert _metric(text, "raypachy_datums_total", name, "success") == 5
    assert _metric(text, "raypachy_bytes_read_total", name) == 25
    assert _metric(text, "raypachy_bytes_written_total", name) == 50
    assert _metric(text, "raypachy_job_seconds_count", name, "success") == 1

    from ray.util.state import list_actors, list_tasks

    actors = {
        a.name
        for a in list_actors(address=state.dashboard_url, limit=10000, filters=[
            ("state", "=", "ALIVE")])
    }  # fmt: skip
    assert {"raypachy:metadata", "raypachy:api", "raypachy:controllers"} <= actors
    # The session's cluster has run many tasks by now: ask only for this job's.
    first = f"raypachy:{name}:{job_id[:8]}:0"
    found = list_tasks(address=state.dashboard_url, filters=[("name", "=", first)],
                       raise_on_missing_output=False)  # fmt: skip  # others may be truncated
    tasks = [t.name for t in found]
    assert any(re.fullmatch(rf"raypachy:{name}:{job_id[:8]}:\d+", t) for t in tasks), tasks[-20:]
