"""Starting raypachy: on demand from any command, and on an existing Ray cluster (serve)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from raypachy.runtime.cluster import _stop_ray, start_ray_head
from tests.conftest import RAYPACHY, free_port

pytestmark = pytest.mark.ray


def test_a_command_starts_the_cluster_and_says_so(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RAYPACHY_HOME": str(tmp_path / "home"),
        "RAYPACHY_API_PORT": str(free_port()),
        "RAYPACHY_S3_PORT": str(free_port()),
    }
    env.pop("RAYPACHY_ADDRESS", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RAYPACHY, *args], env=env, capture_output=True, text=True, timeout=180
        )

    status = json.loads(cli("status", "-o", "json").stdout)
    assert status["running"] is False
    try:
        done = cli("list", "repo", "-o", "json")
        assert done.returncode == 0, done.stderr
        assert "starting it (raypachy up)" in done.stderr
        assert json.loads(done.stdout) == []
        assert json.loads(cli("status", "-o", "json").stdout)["running"] is True
    finally:
        down = cli("down")
    assert down.returncode == 0 and "stopped the local Ray head" in down.stderr
    assert json.loads(cli("status", "-o", "json").stdout)["running"] is False


def test_serve_on_an_existing_ray_cluster(tmp_path: Path) -> None:
    head_pid, gcs, _dashboard, _metrics = start_ray_head(tmp_path, num_cpus=1)
    port = free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
    try:
        done = subprocess.run(
            [RAYPACHY, "serve", "--address", gcs, "--home", str(tmp_path / "serve-home"),
             "--port", str(port), "--s3-port", str(free_port()), "--detach"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"http://127.0.0.1:{port}" in done.stdout
        api = f"http://127.0.0.1:{port}"
        assert httpx.post(f"{api}/v1/repos", json={"name": "served"}).status_code == 200
        assert [r["name"] for r in httpx.get(f"{api}/v1/repos").json()] == ["served"]
    finally:
        _stop_ray(head_pid)
