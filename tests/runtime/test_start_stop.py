"""Starting raypachy: on demand from any command, and on an existing Ray cluster (serve)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from raypachy.errors import UnavailableError
from raypachy.runtime.cluster import _stop_ray, ray_temp_dir, start_ray_head
from raypachy.secrets import read_local_token
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
    assert not Path(ray_temp_dir(tmp_path / "home")).exists()  # Ray's session files went too
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
        # Without RAYPACHY_TOKEN, serve on loopback keeps a token in its home, for its owner.
        token = read_local_token(tmp_path / "serve-home")
        assert (
            token is not None
            and (tmp_path / "serve-home" / "token").stat().st_mode & 0o777 == 0o600
        )
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{api}/v1/repos", json={"name": "served"}).status_code == 401
        assert (
            httpx.post(f"{api}/v1/repos", json={"name": "served"}, headers=auth).status_code == 200
        )
        assert [r["name"] for r in httpx.get(f"{api}/v1/repos", headers=auth).json()] == ["served"]
    finally:
        _stop_ray(head_pid)
        shutil.rmtree(ray_temp_dir(tmp_path), ignore_errors=True)


def test_serve_whose_ray_cluster_died_exits_on_sigterm(tmp_path: Path) -> None:
    head_pid, gcs, _dashboard, _metrics = start_ray_head(tmp_path, num_cpus=1)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
    argv = [RAYPACHY, "serve", "--address", gcs, "--home", str(tmp_path / "serve-home"),
            "--port", str(free_port()), "--s3-port", str(free_port())]  # fmt: skip
    serve = None
    try:
        deadline = time.monotonic() + 180
        while True:  # `ray start` opens the GCS port before the node is ready for a driver
            serve = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
            assert serve.stdout is not None
            line = serve.stdout.readline()
            if line.startswith("raypachy API serving at") or time.monotonic() > deadline:
                break
            serve.communicate(timeout=60)
            time.sleep(2)
        assert line.startswith("raypachy API serving at"), serve.communicate(timeout=60)
        _stop_ray(head_pid)  # the cluster dies under the serving driver
        time.sleep(2)
        serve.send_signal(signal.SIGTERM)
        try:
            _, err = serve.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("raypachy serve ignored SIGTERM for 20 s") from None
    finally:
        _stop_ray(head_pid)
        shutil.rmtree(ray_temp_dir(tmp_path), ignore_errors=True)
        if serve is not None and serve.poll() is None:
            serve.kill()
            serve.communicate(timeout=10)
    # It stops itself, rather than through Ray's handler (an abort, or a wait for the cluster).
    assert serve.returncode == 128 + signal.SIGTERM, (serve.returncode, err[-2000:])
    assert "raypachy serve: stopping (SIGTERM)" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_ray_temp_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    taken = Path(ray_temp_dir(tmp_path / "home"))
    taken.mkdir(mode=0o700)
    os.chown(taken, 65534, 65534)  # nobody's: a user who got there first
    try:
        with pytest.raises(UnavailableError, match="belongs to another user"):
            start_ray_head(tmp_path / "home", num_cpus=1)
    finally:
        shutil.rmtree(taken)
