"""A Ray cluster of two nodes on this host and ``file://`` storage: shared, or not.

The second node joins the head with ``ray start --address``. To play a node on another
machine, whose disk lacks the head's storage directory, it runs in a mount namespace of its
own with an empty tmpfs over that directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raypachy.runtime.cluster import RAY_ENV, _stop_ray, ray_temp_dir, start_ray_head
from tests.conftest import RAYPACHY, free_port

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="a node with a disk of its own needs a mount namespace (root, unshare)",
    ),
]

RAY = str(Path(sys.executable).with_name("ray"))


def _alive_nodes(dashboard: str) -> int:
    from ray.util.state import list_nodes

    return sum(n.state == "ALIVE" for n in list_nodes(address=dashboard, limit=100))


def _wait_nodes(dashboard: str, count: int, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if _alive_nodes(dashboard) == count:
                return
        except Exception:  # the dashboard still starting
            pass
        assert time.monotonic() < deadline, f"the cluster never had {count} live nodes"
        time.sleep(1)


def _join(gcs: str, hide: Path | None, log: Path) -> subprocess.Popen[bytes]:
    """A second node on 127.0.0.1; with ``hide``, that directory is empty for it."""
    # Ray rewrites a 127.0.0.1 address to the host's own address for a joining node; the
    # IPv4-mapped form is the same loopback address, left as is.
    host, port = gcs.rsplit(":", 1)
    start = [RAY, "start", f"--address=[::ffff:{host}]:{port}", "--block", "--node-ip-address=127.0.0.1",
             "--num-cpus=1", f"--dashboard-agent-listen-port={free_port()}",
             f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
             "--disable-usage-stats"]  # fmt: skip
    argv = start
    if hide is not None:
        mount = f'mount -t tmpfs tmpfs "{hide}" && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount,
                "sh", *start]  # fmt: skip
    # Ray refuses a joining node unless told that multi-node clusters are fine here.
    env = {**os.environ, **RAY_ENV, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


@pytest.fixture
def head(tmp_path: Path) -> Iterator[tuple[str, str]]:
    pid, gcs, dashboard, _ = start_ray_head(tmp_path / "head", num_cpus=1)
    try:
        _wait_nodes(dashboard, 1)
        yield gcs, dashboard
    finally:
        _stop_ray(pid)
        shutil.rmtree(ray_temp_dir(tmp_path / "head"), ignore_errors=True)


def _serve(gcs: str, home: Path, storage: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **RAY_ENV}
    return subprocess.run(
        [RAYPACHY, "serve", "--address", gcs, "--home", str(home), "--storage",
         f"file://{storage}", "--port", str(free_port()), "--s3-port", str(free_port()),
         "--detach"],
        env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip


def test_serve_refuses_file_storage_that_a_node_does_not_see(
    head: tuple[str, str], tmp_path: Path
) -> None:
    gcs, dashboard = head
    storage = tmp_path / "storage"
    storage.mkdir()
    blind = _join(gcs, storage, tmp_path / "blind-node.log")
    try:
        _wait_nodes(dashboard, 2)
        refused = _serve(gcs, tmp_path / "home", storage)
    finally:
        _stop_ray(blind.pid)
        blind.wait(30)
    err = refused.stderr
    assert refused.returncode == 1, (refused.stdout, err)
    assert err.startswith(f"error: storage file://{storage} is a local path that not every node")
    assert err.count("\n") == 1 and "(2 nodes; not seen from node " in err, err
    assert "s3://bucket/prefix" in err, err
    assert not any(p.name.startswith(".node-probe-") for p in storage.iterdir())

    # Two nodes that both see the directory (one machine, or a shared mount) are fine.
    _wait_nodes(dashboard, 1)
    shared = _join(gcs, None, tmp_path / "shared-node.log")
    try:
        _wait_nodes(dashboard, 2)
        served = _serve(gcs, tmp_path / "home", storage)
    finally:
        _stop_ray(shared.pid)
        shared.wait(30)
    assert served.returncode == 0, served.stderr
    assert "raypachy API serving at http://127.0.0.1:" in served.stdout
