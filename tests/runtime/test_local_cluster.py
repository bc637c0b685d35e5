"""The control plane on a real local Ray cluster: CLI, restarts after SIGKILL, down/up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.conftest import RAYPACHY, LocalCluster

pytestmark = pytest.mark.ray


def _status(cluster: LocalCluster) -> dict:  # type: ignore[type-arg]
    return json.loads(cluster.cli("status", "-o", "json").stdout)


def _wait_healthy(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come back")


def test_cli_through_the_api(local_cluster: LocalCluster) -> None:
    c = local_cluster
    c.cli("create", "repo", "cli-api")
    c.cli("put", "file", "cli-api@master:/a.txt", "-f", "-", stdin=b"hello")
    assert c.cli("get", "file", "cli-api@master:/a.txt").stdout == b"hello"
    repos = json.loads(c.cli("list", "repo", "-o", "json").stdout)
    assert "cli-api" in [r["name"] for r in repos]
    status = _status(c)
    assert status["running"] and status["api_url"] == c.api_url
    assert status["dashboard_url"].startswith("http://127.0.0.1:")
    auth = {"Authorization": f"Bearer {c.token}"}
    assert (
        httpx.get(f"{c.api_url}/openapi.json", headers=auth).json()["info"]["title"] == "raypachy"
    )
    assert httpx.get(f"{c.api_url}/openapi.json").status_code == 401  # the local API wants it too


def test_metadata_actor_sigkill_keeps_every_commit(local_cluster: LocalCluster) -> None:
    c = local_cluster
    client = c.client()
    client.create_repo("meta-kill")
    payloads = {f"/f{i}": os.urandom(100_000 + i) for i in range(5)}
    ids = [client.put_file("meta-kill@master", p, data).id for p, data in payloads.items()]
    before = _status(c)["metadata"]["pid"]
    os.kill(before, signal.SIGKILL)
    history = client.list_commits("meta-kill", "master")  # read calls ride out the restart
    assert [h.id for h in reversed(history)] == ids
    assert all(h.finished is not None for h in history)
    for path, data in payloads.items():
        assert client.get_file("meta-kill@master", path) == data
    assert _status(c)["metadata"]["pid"] != before
    client.put_file("meta-kill@master", "/after", b"still writable")


def test_api_actor_sigkill_comes_back(local_cluster: LocalCluster) -> None:
    c = local_cluster
    client = c.client()
    client.create_repo("api-kill")
    client.put_file("api-kill@master", "/x", b"x")
    before = _status(c)["api"]["pid"]
    os.kill(before, signal.SIGKILL)
    _wait_healthy(c.api_url)
    assert client.get_file("api-kill@master", "/x") == b"x"
    assert _status(c)["api"]["pid"] != before


def test_cli_killed_during_big_put_leaves_nothing(local_cluster: LocalCluster) -> None:
    c = local_cluster
    client = c.client()
    client.create_repo("cli-kill")
    base = client.put_file("cli-kill@master", "/base", b"base")
    storage = c.home / "storage" / "chunks"

    def chunk_files() -> set[str]:  # final chunk files only, not a writer's temporary files
        return {p.name for p in storage.rglob("*") if p.is_file() and not p.name.startswith(".")}

    before = chunk_files()
    proc = subprocess.Popen(
        [RAYPACHY, "put", "file", "cli-kill@master:/huge", "-f", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=c.env,
    )  # fmt: skip
    assert proc.stdin is not None
    deadline = time.monotonic() + 120
    while len(chunk_files() - before) < 5:
        assert time.monotonic() < deadline, "the CLI wrote no chunks"
        proc.stdin.write(os.urandom(4 << 20))
        proc.stdin.flush()
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdin.close()
    assert client.inspect_branch("cli-kill", "master").head == base.id
    assert [f.path for f in client.list_files("cli-kill@master")] == ["/base"]
    orphans = chunk_files() - before
    report = client.gc()  # the dead CLI's lease no longer protects its orphans
    assert report.chunks_deleted >= len(orphans) >= 5
    assert not orphans & chunk_files()
    assert client.get_file("cli-kill@master", "/base") == b"base"


def test_down_then_up_keeps_everything(local_cluster: LocalCluster) -> None:
    c = local_cluster
    client = c.client()
    client.create_repo("persist")
    data = os.urandom(3 << 20)
    commit = client.put_file("persist@master", "/data", data)
    c.cli("down", timeout=120)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{c.api_url}/healthz", timeout=1)
    c.cli("up", "--num-cpus", "2", timeout=180)
    again = c.client()
    assert again.inspect_commit("persist@master").id == commit.id
    assert again.get_file("persist@master", "/data") == data
