"""Starting and stopping raypachy: a local Ray head plus the control plane, or the
control plane alone on an existing Ray cluster (``serve``)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from raypachy._private import private_dir
from raypachy._procs import is_same_process, pid_alive, process_identity, process_tree
from raypachy.errors import ConflictError, InvalidArgumentError, UnavailableError
from raypachy.runtime.names import FrontDoors
from raypachy.runtime.state import (
    ClusterState,
    api_port,
    clear_state,
    home_dir,
    read_state,
    s3_port,
    write_state,
)
from raypachy.secrets import (
    ensure_local_token,
    is_loopback,
    new_challenge,
    proof_matches,
    token_hash,
)
from raypachy.tls import TlsFiles, pinned_context

# A local head on loopback only: Ray maps 127.0.0.1 to the host's address unless told
# (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps it on 127.0.0.1). Token auth is set explicitly
# off for this loopback-only cluster.
RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # Keep idle workers (at most one per CPU) warm for 10 minutes instead of 1 second, so the
    # first small job after a pause does not pay ~0.5 s to start a Python worker.
    "RAY_idle_worker_killing_time_threshold_ms": "600000",
    # Export metrics every 2 s (default 10 s) so that dashboards and scrapes see jobs move.
    "RAY_metrics_report_interval_ms": "2000",
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


def _healthy(
    url: str, timeout: float = 1.0, token: str | None = None, tls: TlsFiles | None = None
) -> bool:
    """Whether the API at ``url`` answers; with ``token``, only if it proves it holds it
    (another program, or another user's, may hold the port). Over https it must present
    the certificate of ``tls``."""
    challenge = new_challenge()
    try:
        verify = pinned_context(tls.cert) if tls is not None and url.startswith("https") else True
        reply = httpx.get(
            f"{url}/healthz", params={"challenge": challenge}, timeout=timeout, verify=verify
        )
        if reply.status_code != 200:
            return False
        return token is None or proof_matches(token, challenge, reply.json().get("proof"))
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


# A head that dies while starting (on a busy machine Ray's own startup waits time out, or a
# port picked as free is taken before Ray binds it) is started again, this many times in all.
HEAD_TRIES = 3


class HeadExited(UnavailableError):
    """The Ray head exited while starting; its log says why."""


def ray_temp_dir(home: Path) -> str:
    """Ray's temp dir for this home: its own, so that ``ray job submit`` and ``ray.init()``
    without an address never reach another home's (or user's) cluster through the shared
    /tmp/ray; short, as Ray's unix socket paths below it must fit in ~107 bytes."""
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:10]
    return f"/tmp/raypachy-{os.getuid()}-{digest}"


def _wait_for_port(port: int, pid: int, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise HeadExited(f"the Ray head exited while starting; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise UnavailableError(f"the Ray head did not start within {seconds:.0f}s; see {log}")


def start_ray_head(
    home: Path,
    num_cpus: int | None,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    gcs_port: int | None = None,
) -> tuple[int, str, str, str]:
    """Start ``ray start --head --block`` in its own session, with a Ray temp dir of its own.

    Returns (pid, GCS address, dashboard URL, metrics URL).
    """
    gcs_port = gcs_port or _free_port()
    dash_port, metrics_port = _free_port(8265), _free_port()
    logs = home / "logs"
    private_dir(logs)
    log = logs / "ray-head.log"
    temp_dir = ray_temp_dir(home)
    os.makedirs(temp_dir, mode=0o700, exist_ok=True)
    if os.stat(temp_dir).st_uid != os.getuid():  # /tmp is shared: never another user's
        raise UnavailableError(f"{temp_dir} belongs to another user: remove it, or use another "
                               "RAYPACHY_HOME")  # fmt: skip
    ray_bin = str(Path(sys.executable).with_name("ray"))
    cmd = [
        ray_bin, "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}",
        f"--ray-client-server-port={_free_port()}", f"--metrics-export-port={metrics_port}",
        # A fixed port: with 0, Ray's client server waits for the node to report the agent's
        # port, gives up after 30 s on a busy machine, and takes the whole head down with it.
        f"--runtime-env-agent-port={_free_port()}", f"--temp-dir={temp_dir}",
        # Ray's default (52365) is one port per host: a second cluster's job agent would find
        # it taken and `ray job submit` to that cluster fail ("No available agent").
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--num-cpus={num_cpus if num_cpus is not None else os.cpu_count() or 1}", *extra_args,
    ]  # fmt: skip
    # posix_spawn, not Popen: the head outlives this process, in a session of its own. Its
    # PATH starts with this environment's bin, so `python` in a Ray job is raypachy's Python.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    pid = os.posix_spawn(
        ray_bin,
        cmd,
        {**os.environ, **RAY_ENV, "PATH": path, **(extra_env or {})},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        ],
        setsid=True,
    )
    try:
        _wait_for_port(gcs_port, pid, log, 90)
    except BaseException:  # Ctrl-C too: stop what was half-started
        _stop_ray(pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    return pid, f"127.0.0.1:{gcs_port}", f"http://127.0.0.1:{dash_port}", metrics


def start_control_plane(
    address: str,
    home: str,
    storage: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    local: bool = True,
    stay_connected: bool = False,
    images: str = "off",
    gateway_port: int | None = None,
    doors: FrontDoors | None = None,
    tls: TlsFiles | None = None,
) -> str:
    """Create (or find) the control plane actors on the Ray cluster at ``address``, serving
    ``doors`` (``raypachy.server.doors.front_doors()``: the API, the S3 gateway).

    The API server actor serves the S3 gateway on ``gateway_port`` (default
    ``RAYPACHY_S3_PORT`` or 8651) of the same host, with the same token.

    Listening beyond loopback needs ``RAYPACHY_TOKEN`` (bearer auth); the actor gets only the
    token's hash, so the secret never shows among Ray's actor arguments. The metadata actor
    (on the head) holds the token itself, masked (``JobToken``), to hand it to what pipelines
    run before auth is activated: worker nodes need none in their environment. With ``tls`` (files
    on the head node, where the API actor runs) both doors speak https; beyond loopback
    without it, one warning line says that tokens and data cross the network in clear.

    ``local`` is for the loopback head that ``up`` starts; ``serve`` joins a cluster as is.
    With ``stay_connected`` this process stays the Ray driver that owns the actors: while a
    job's driver lives, Ray keeps its worker processes warm for the next datum batch (it
    starts a fresh worker for every task of a finished job, ~0.5 s each).
    """
    token = os.environ.get("RAYPACHY_TOKEN") or None
    if not is_loopback(host) and not token:
        raise UnavailableError(
            f"refusing to serve the API on {host} without a token: set RAYPACHY_TOKEN "
            "(clients send it too), or listen on 127.0.0.1"
        )
    if not is_loopback(host) and tls is None:
        sys.stderr.write(
            f"warning: serving the API on {host} over plain http: tokens and data cross the "
            "network unencrypted (anyone on the path can read them and replay the token); "
            "give --tls-cert and --tls-key\n"
        )
        sys.stderr.flush()
    # On loopback without RAYPACHY_TOKEN: the home's token, readable by its owner only.
    token = token or ensure_local_token(private_dir(home))
    if doors is None:
        raise InvalidArgumentError("start_control_plane needs the front doors to serve")
    if local:
        os.environ.update(RAY_ENV)  # before importing ray: it reads them at import time
    import ray

    from raypachy.pps.model import JobToken
    from raypachy.runtime.actors import ApiServerActor, MetadataActor
    from raypachy.runtime.names import API_ACTOR, METADATA_ACTOR, NAMESPACE

    port = port or api_port()
    gateway_port = gateway_port or s3_port()
    ray.init(
        address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING
    )
    if stay_connected:
        _exit_on_sigterm()
    try:
        from raypachy.runtime.shared_storage import check_storage_shared

        check_storage_shared(storage)
        meta = MetadataActor.options(  # type: ignore[attr-defined]
            name=METADATA_ACTOR, lifetime="detached", get_if_exists=True
        ).remote(home, storage, doors, images, os.environ.get("RAYPACHY_METADATA") or None,
                 JobToken(token))  # fmt: skip
        ray.get(meta.pid.remote(), timeout=120)
        from raypachy.runtime.chunkcache import start_chunk_caches

        start_chunk_caches(storage)  # one per node, for remote storage
        api = ApiServerActor.options(  # type: ignore[attr-defined]
            name=API_ACTOR, lifetime="detached", get_if_exists=True
        ).remote(host, port, storage, token_hash(token), gateway_port, doors, tls)
        info = ray.get(api.info.remote(), timeout=120)
        if info["error"]:
            ray.kill(api, no_restart=True)
            raise UnavailableError(
                f"raypachy API: {info['error']}; pick another port with --port or RAYPACHY_API_PORT"
            )
        if info.get("s3_error"):
            ray.kill(api, no_restart=True)
            raise UnavailableError(
                f"raypachy S3 gateway: {info['s3_error']}; pick another port with --s3-port or "
                "RAYPACHY_S3_PORT"
            )
        shown = "127.0.0.1" if info["host"] in ("0.0.0.0", "::") else info["host"]
        url = f"{'https' if tls else 'http'}://{shown}:{info['port']}"
    except BaseException:
        ray.shutdown()
        raise
    if not stay_connected:
        ray.shutdown()
    deadline = time.monotonic() + 60
    while not _healthy(url, token=token, tls=tls):
        if time.monotonic() > deadline:
            raise UnavailableError(f"the raypachy API at {url} did not come up")
        time.sleep(0.2)
    return url


def _exit_on_sigterm() -> None:
    """SIGTERM ends this driver at once. Ray's own handler exits through ``ray.shutdown()``,
    which waits on a cluster that may be gone; the control plane actors are detached and
    do not need this process to stop cleanly."""

    def stop(signum: int, frame: object) -> None:
        sys.stderr.write("raypachy serve: stopping (SIGTERM)\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _spawn_control_plane(
    root: Path,
    gcs: str,
    storage: str,
    port: int,
    images: str,
    gateway_port: int | None = None,
    tls: TlsFiles | None = None,
) -> int:
    """Run ``raypachy serve`` in the background: the long-lived driver of the control plane."""
    log = root / "logs" / "control-plane.log"
    private_dir(log.parent)
    argv = [
        str(Path(sys.executable).with_name("raypachy")), "serve", "--address", gcs,
        "--home", str(root), "--storage", storage, "--port", str(port), "--images", images,
        "--s3-port", str(gateway_port or s3_port()),
    ]  # fmt: skip
    if tls is not None:
        argv += ["--tls-cert", tls.cert, "--tls-key", tls.key]
    return os.posix_spawn(
        argv[0],
        argv,
        {**os.environ, **RAY_ENV},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        ],
        setsid=True,
    )


def up(
    home: str | None = None,
    storage: str | None = None,
    port: int | None = None,
    num_cpus: int | None = None,
    images: str | None = None,
    tls: TlsFiles | None = None,
) -> ClusterState:
    """Start (once) a local Ray head and the control plane; returns where they are (with
    ``tls``, the API and the S3 gateway speak https).

    Interrupted (Ctrl-C), it stops what it had started before raising again.
    """
    root = private_dir(home_dir(home))
    # The API's token: RAYPACHY_TOKEN, else one kept in the home (mode 0600) for its owner.
    token = os.environ.get("RAYPACHY_TOKEN") or ensure_local_token(root)
    state = read_state(str(root))
    if state and _healthy(state.api_url, token=token, tls=tls):
        if images and images != state.images:
            raise ConflictError(
                f"raypachy already runs here with --images {state.images}; to change the mode: "
                f"raypachy down && raypachy up --images {images}"
            )
        return state
    storage = storage or os.environ.get("RAYPACHY_STORAGE") or f"file://{root}/storage"
    port = port or api_port()
    images = images or os.environ.get("RAYPACHY_IMAGES") or "off"
    gateway_port = s3_port()
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    # Answers (over https or http), but could not prove it holds our token:
    if _healthy(url, tls=tls) or _healthy(url.replace("https:", "http:")):
        raise UnavailableError(
            f"port {port} is held by a server that is not this raypachy (it cannot prove it "
            "holds this home's token): stop it, or pick another port with --port or "
            "RAYPACHY_API_PORT"
        )
    head = None
    if state and _ours(state.ray_pid, state.ray_identity, _RAY_HEAD):
        head = (state.ray_pid, state.gcs_address, state.dashboard_url, state.metrics_url)
        if _ours(state.control_pid, state.control_identity, _CONTROL):
            _stop_process(state.control_pid)
    for attempt in range(1, HEAD_TRIES + 1):
        with _stopped_unless_up(root) as started:
            if head is None:
                try:
                    head = started.ray = start_ray_head(root, num_cpus)
                except HeadExited:
                    raise _HeadDied() from None
            ray_pid, gcs, dashboard, metrics = head
            started.control = _spawn_control_plane(
                root, gcs, storage, port, images, gateway_port, tls
            )
            _wait_until_up(url, root, started.control, ray_pid, token, tls)
            state = ClusterState(
                str(root), storage, url, dashboard, gcs, ray_pid, time.time(), started.control,
                metrics, s3_url=f"{scheme}://127.0.0.1:{gateway_port}", images=images,
                ray_identity=process_identity(ray_pid),
                control_identity=process_identity(started.control),
            )  # fmt: skip
            write_state(state)
            return state
        # The head died while starting, or under the control plane: start both again.
        head = None
        if attempt < HEAD_TRIES:
            _say(f"the Ray head exited while raypachy started (attempt {attempt}/{HEAD_TRIES}; "
                 f"see {root / 'logs' / 'ray-head.log'}): starting it again")  # fmt: skip
    raise HeadExited(
        f"the Ray head exited while raypachy started, {HEAD_TRIES} times; see "
        f"{root / 'logs' / 'ray-head.log'}"
    )


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class _Started:
    """What one attempt of ``up`` started, to stop it if the attempt does not finish."""

    ray: tuple[int, str, str, str] | None = None
    control: int | None = None


@contextlib.contextmanager
def _stopped_unless_up(root: Path) -> Iterator[_Started]:
    """Stop what the block started if it fails, is interrupted, or the head died under it
    (``_HeadDied`` is swallowed: the caller tries again)."""
    started = _Started()
    try:
        yield started
    except BaseException as e:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits
        try:
            _stop_process(started.control)
            if started.ray is not None:
                _stop_ray(started.ray[0])
                shutil.rmtree(ray_temp_dir(root), ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, previous)
        if not isinstance(e, _HeadDied):
            raise


class _HeadDied(Exception):
    """The Ray head exited while starting, or while the control plane started on it."""


def _wait_until_up(
    url: str, root: Path, control: int, ray_pid: int | None, token: str, tls: TlsFiles | None
) -> None:
    deadline = time.monotonic() + 180
    while not _healthy(url, token=token, tls=tls):  # up only when it proves it holds our token
        if ray_pid is not None and not pid_alive(ray_pid):
            raise _HeadDied()
        if not pid_alive(control) or time.monotonic() > deadline:
            # A head that is dying takes the control plane with it, and ``ray start --block``
            # needs a few seconds to stop its other processes: blame the head if it goes.
            if ray_pid is not None and _exits_within(ray_pid, 10.0):
                raise _HeadDied()
            raise UnavailableError(
                f"the control plane did not start; see {root / 'logs' / 'control-plane.log'}"
            )
        time.sleep(0.2)


def _exits_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


_RAY_HEAD = ("ray", "start")  # the command lines `up` starts, for states without identities
_CONTROL = ("raypachy", "serve")


def _ours(pid: int | None, identity: str, command: tuple[str, str]) -> bool:
    """Whether ``pid`` is still the process ``up`` recorded (never signal a stranger)."""
    return is_same_process(pid, identity, *command)


def _stop_process(pid: int | None) -> None:
    if pid_alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


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
    control = _ours(state.control_pid, state.control_identity, _CONTROL)
    head = _ours(state.ray_pid, state.ray_identity, _RAY_HEAD)
    if control:
        _stop_process(state.control_pid)
    if head:
        _stop_ray(state.ray_pid)
    if state.ray_pid:  # stopped, or gone before: nothing of this home uses them any more
        # Ray's session files of this home (its own logs stay in $RAYPACHY_HOME/logs).
        shutil.rmtree(ray_temp_dir(Path(state.home)), ignore_errors=True)
    clear_state(home)
    # A state whose processes are gone (a reboot, a copied home) was not running.
    return state if control or head or state.ray_pid is None else None


def serve(
    address: str | None,
    home: str | None,
    storage: str | None,
    host: str,
    port: int,
    detach: bool,
    images: str = "off",
    gateway_port: int | None = None,
    doors: FrontDoors | None = None,
    tls: TlsFiles | None = None,
) -> str:
    """Start the control plane on an existing cluster (the entrypoint of a Ray job), serving
    ``doors`` (over https with ``tls``)."""
    root = private_dir(home_dir(home))
    storage = storage or os.environ.get("RAYPACHY_STORAGE") or f"file://{root}/storage"
    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    url = start_control_plane(
        address, str(root), storage, host=host, port=port, local=False,
        stay_connected=not detach, images=images, gateway_port=gateway_port, doors=doors,
        tls=tls,
    )  # fmt: skip
    s3_url = url.rsplit(":", 1)[0] + f":{gateway_port or s3_port()}"
    sys.stdout.write(f"raypachy API serving at {url}, S3 gateway at {s3_url} (storage {storage})\n")
    sys.stdout.flush()
    if not detach:
        # Stay the driver; give up only after a minute without answers (an actor restarting
        # after a crash is back within seconds).
        failures = 0
        while failures < 6:
            time.sleep(10)
            failures = 0 if _healthy(url, timeout=5, tls=tls) else failures + 1
        raise UnavailableError(f"the raypachy API at {url} stopped answering")
    return url


def start_local() -> str:
    """Start the local cluster for a command that needs it, and say so; returns the API URL."""
    from raypachy._procs import pid_alive

    state = read_state()
    if state is not None and pid_alive(state.ray_pid):
        sys.stderr.write("the raypachy API is not answering: restarting its control plane...\n")
    else:
        sys.stderr.write("raypachy is not running here: starting it (raypachy up)...\n")
    state = up()
    sys.stderr.write(f"raypachy is up: API {state.api_url}, Ray dashboard {state.dashboard_url}\n")
    return state.api_url
