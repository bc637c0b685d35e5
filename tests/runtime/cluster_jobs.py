"""Waiting for jobs on a real local cluster, as the Ray tests of pipelines do it (CLI + client)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.conftest import LocalCluster


def unique(prefix: str) -> str:
    """A repo or pipeline name no other test of the shared cluster uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def head_job(c: LocalCluster, repo: str) -> dict[str, Any]:
    """The job of the input repo's head commit (the same global id), once it has ended."""
    commit = json.loads(c.cli("inspect", "commit", f"{repo}@master", "-o", "json").stdout)["id"]
    c.cli("wait", "commit", commit, "-o", "json", timeout=300)
    [job] = json.loads(c.cli("list", "job", commit, "-o", "json").stdout)
    return job  # type: ignore[no-any-return]


def first_job(c: LocalCluster, pipeline: str) -> dict[str, Any]:
    """The job that creating the pipeline started, once it has ended."""
    client = c.client()
    deadline = time.monotonic() + 60
    while (job_id := client.inspect_pipeline(pipeline).last_job) is None:
        assert time.monotonic() < deadline, f"no job for {pipeline}"
        time.sleep(0.2)
    client.wait_job(pipeline, job_id, timeout=300)
    done = c.cli("inspect", "job", f"{pipeline}@{job_id}", "-o", "json").stdout
    return json.loads(done)  # type: ignore[no-any-return]
