"""``--images runtime_env`` on a node without podman: the job says so, in one line."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import start_cluster

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(shutil.which("podman") is not None, reason="podman is installed here"),
]

SPEC = {
    "pipeline": {"name": "boxed"},
    "input": {"pfs": {"repo": "boxin", "glob": "/*"}},
    "transform": {
        "image": "docker.io/library/python:3.11-slim",
        "cmd": ["cp", "-r", "/pfs/boxin", "/pfs/out/"],
    },
}


def test_a_node_without_podman_is_named_on_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_IMAGES", "runtime_env")
    cluster = start_cluster(tmp_path / "home")
    try:
        assert json.loads(cluster.cli("status", "-o", "json").stdout)["images"] == "runtime_env"
        cluster.cli("create", "repo", "boxin")
        cluster.cli("put", "file", "boxin@master:/a", "-f", "-", stdin=b"a")
        cluster.cli("create", "pipeline", "-f", "-", stdin=json.dumps(SPEC).encode())
        deadline = time.monotonic() + 300
        while True:
            jobs = json.loads(cluster.cli("list", "job", "-p", "boxed", "-o", "json").stdout)
            if jobs and jobs[0]["state"] in ("success", "failure"):
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(1)
        [job] = jobs
        cause = (
            "podman not found on node 127.0.0.1: --images runtime_env runs each image with "
            "podman on the node that runs the datum; install podman on every node, or serve "
            "with --images off or label"
        )
        assert job["state"] == "failure" and job["reason"].endswith(cause), job["reason"]
        assert "\n" not in job["reason"] and "Traceback" not in job["reason"]
        [datum] = json.loads(
            cluster.cli("list", "datum", f"boxed@{job['id']}", "-o", "json").stdout
        )
        assert datum["error"] == cause
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)
