"""Starting and stopping raypachy: a local Ray head plus the control plane, or the
control plane alone on an existing Ray cluster (``serve``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from raypachy._procs import pid_alive, process_tree
from raypachy.errors import UnavailableError
from raypachy.runtime.state import (
    ClusterState,
    api_port,
    clear_state,
    home_dir,
    read_state,
    write_state,
)

# A local head on loopback only: Ray maps 127.0.0.1 to the host's address unless told
# (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps it on 127.0.0.1). Token auth is set explicitly
# off for this loopback-only cluster.
RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}


def _free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise UnavailableError("no free TCP port on 127.0.0.1")


def _healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for_port(port: int, pid: int, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise UnavailableError(f"the Ray head exited while starting; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise UnavailableError(f"the Ray head did not start within {seconds:.0f}s; see {log}")


def start_ray_head(home: Path, num_cpus: int | None) -> tuple[int, str, str]:
    """Start ``ray start --head --block`` in its own session; returns (pid, gcs, dashboard)."""
    gcs_port, dash_port = _free_port(), _free_port(8265)
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "ray-head.log"
    ray_bin = str(Path(sys.executable).with_name("ray"))
    cmd = [
        ray_bin, "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}",
        f"--ray-client-server-port={_free_port()}", f"--metrics-export-port={_free_port()}",
        f"--num-cpus={num_cpus or os.cpu_count() or 1}",
    ]  # fmt: skip
    # posix_spawn, not Popen: the head outlives this process, in a session of its own.
    pid = os.posix_spawn(
        ray_bin,
        cmd,
        {**os.environ, **RAY_ENV},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        ],
        setsid=True,
    )
    _wait_for_port(gcs_port, pid, log, 90)
    return pid, f"127.0.0.1:{gcs_port}", f"http://127.0.0.1:{dash_port}"


def start_control_plane(
    address: str,
    home: str,
    storage: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    local: bool = True,
) -> str:
    """Create (or find) the control plane actors on the Ray cluster at ``address``.

    ``local`` is for the loopback head that ``up`` starts; ``serve`` joins a cluster as is.
    """
    if local:
        os.environ.update(RAY_ENV)  # before importing ray: it reads them at import time
    import ray

    from raypachy.runtime.actors import (
        API_ACTOR,
        METADATA_ACTOR,
        NAMESPACE,
        ApiServerActor,
        MetadataActor,
    )

    port = port or api_port()
    ray.init(
        address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING
    )
    try:
        meta = MetadataActor.options(  # type: ignore[attr-defined]
            name=METADATA_ACTOR, lifetime="detached", get_if_exists=True
        ).remote(home, storage)
        ray.get(meta.pid.remote(), timeout=120)
        api = ApiServerActor.options(  # type: ignore[attr-defined]
            name=API_ACTOR, lifetime="detached", get_if_exists=True
        ).remote(host, port, storage)
        info = ray.get(api.info.remote(), timeout=120)
        if info["error"]:
            ray.kill(api, no_restart=True)
            raise UnavailableError(
                f"raypachy API: {info['error']}; pick another port with --port or RAYPACHY_API_PORT"
            )
        shown = "127.0.0.1" if info["host"] in ("0.0.0.0", "::") else info["host"]
        url = f"http://{shown}:{info['port']}"
    finally:
        ray.shutdown()
    deadline = time.monotonic() + 60
    while not _healthy(url):
        if time.monotonic() > deadline:
            raise UnavailableError(f"the raypachy API at {url} did not come up")
        time.sleep(0.2)
    return url


def up(
    home: str | None = None,
    storage: str | None = None,
    port: int | None = None,
    num_cpus: int | None = None,
) -> ClusterState:
    """Start (once) a local Ray head and the control plane; returns where they are."""
    root = home_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    state = read_state(str(root))
    if state and _healthy(state.api_url):
        return state
    storage = storage or os.environ.get("RAYPACHY_STORAGE") or f"file://{root}/storage"
    if state and state.ray_pid and pid_alive(state.ray_pid):
        ray_pid, gcs, dashboard = state.ray_pid, state.gcs_address, state.dashboard_url
    else:
        ray_pid, gcs, dashboard = start_ray_head(root, num_cpus)
    try:
        url = start_control_plane(gcs, str(root), storage, port=port)
    except BaseException:
        _stop_ray(ray_pid)
        raise
    state = ClusterState(str(root), storage, url, dashboard, gcs, ray_pid, time.time())
    write_state(state)
    return state


def _stop_ray(pid: int | None, grace: float = 3.0) -> None:
    """Stop the Ray head ``up`` started: its process group and every process under it.

    SIGTERM first; some Ray daemons linger in a slow graceful shutdown, so what is left
    after ``grace`` seconds gets SIGKILL (the metadata is transactional: nothing is lost).
    """
    if not pid_alive(pid):
        return
    assert pid is not None
    tree = process_tree(pid)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for member in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member, signum)
        deadline = time.monotonic() + grace
        while any(pid_alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        tree = {p for p in tree if pid_alive(p)}
        if not tree:
            break
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def down(home: str | None = None) -> ClusterState | None:
    """Stop what ``up`` started (and only that); returns the state that was running."""
    state = read_state(home)
    if state is None:
        return None
    if state.ray_pid:
        _stop_ray(state.ray_pid)
    clear_state(home)
    return state


def serve(
    address: str | None,
    home: str | None,
    storage: str | None,
    host: str,
    port: int,
    detach: bool,
) -> str:
    """Start the control plane on an existing cluster (the entrypoint of a Ray job)."""
    root = home_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    storage = storage or os.environ.get("RAYPACHY_STORAGE") or f"file://{root}/storage"
    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    url = start_control_plane(address, str(root), storage, host=host, port=port, local=False)
    sys.stdout.write(f"raypachy API serving at {url} (storage {storage})\n")
    sys.stdout.flush()
    if not detach:
        while _healthy(url, timeout=5) or _healthy(url, timeout=5):
            time.sleep(10)
        raise UnavailableError(f"the raypachy API at {url} stopped answering")
    return url
