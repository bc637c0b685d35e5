"""The control plane actors: the metadata actor and the API server actor.

Both are detached, named, in namespace ``raypachy``, take no CPU, restart forever and are
pinned to the head node. The database is the source of truth: a restarted actor simply
opens it again. Bytes never go through these actors' mailboxes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayActorError

from raypachy.errors import RaypachyError, UnavailableError
from raypachy.pachd.verbs import NAMES, PIPELINE_CHANGES, READ_ONLY
from raypachy.pps.model import JobToken
from raypachy.runtime.hosting import ControllerHost
from raypachy.runtime.names import (
    CONTROLLER_HOST,
    HEAD_NODE,
    METADATA_ACTOR,
    NAMESPACE,
    FrontDoors,
    unwrap,
)
from raypachy.tls import TlsFiles

log = logging.getLogger("raypachy.runtime")


@ray.remote(
    num_cpus=0, max_restarts=-1, max_concurrency=32, concurrency_groups={"waits": 4},
    resources=HEAD_NODE,
)  # fmt: skip
class MetadataActor:
    """Hosts pachd: the single writer of the metadata database, serving every verb.

    Long polls for changes run in their own concurrency group, so they never take the
    threads that verbs (a controller's claim_job or finish_job) need; the controller host
    holds one of them for good.
    """

    def __init__(
        self,
        home: str,
        storage: str,
        doors: FrontDoors,
        images: str = "off",
        metadata: str | None = None,
        cluster_token: JobToken | None = None,
    ) -> None:
        from raypachy.pachd import Pachd

        self.storage = storage
        self.images = images
        self.doors = doors
        self.pachd = Pachd.open(home, storage, images, serve=True, metadata=metadata)
        # Handed to what pipelines run before auth is activated, as task arguments: worker
        # nodes need no API token of their own (a KubeRay worker pod carries none).
        self.pachd.cluster_token = cluster_token or JobToken()
        self._controllers_lock = threading.Lock()
        self.reconcile_controllers()  # after a restart too: the database says what should run

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        if name not in NAMES:
            return False, ("InvalidArgumentError", f"unknown operation {name!r}")
        try:
            result = getattr(self.pachd, name)(*args, **kwargs)
        except RaypachyError as e:
            return False, (type(e).__name__, e.message)
        if name in PIPELINE_CHANGES:
            self.reconcile_controllers()
        if name == "inspect_pipeline":
            result = self._with_placement(result)
        if name == "status":
            result = {**result, "controllers": self._controllers()}
        return True, result

    @ray.method(concurrency_group="waits")
    def wait_change(self, since: int | None, timeout: float) -> int:
        return self.pachd.wait_change(since, timeout)

    def _controllers(self) -> dict[str, Any]:
        """Each pipeline controller's pid and last error (or why the host did not answer)."""
        names = [p.name for p in self.pachd.list_pipelines()]
        try:
            found = ray.get(self._host().status.remote(), timeout=5)
        except Exception as e:  # restarting or gone: say so, do not fail the status
            found, why = {}, f"{type(e).__name__}: {e}"[:300]
        else:
            why = "no controller yet: the controller host is starting it"
        return {n: found.get(n, {"pipeline": n, "error": why}) for n in names}

    def _host(self) -> Any:
        return ControllerHost.options(  # type: ignore[attr-defined]
            name=CONTROLLER_HOST, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote(self.storage, self.doors.sidecar, self.images)

    def _with_placement(self, info: Any) -> Any:
        """Add what a pipeline asks of Ray and which nodes or node types can give it."""
        from dataclasses import replace

        from raypachy.pps.spec import parse_spec
        from raypachy.runtime.placement import check
        from raypachy.runtime.resources import task_options

        spec = parse_spec(info.spec)
        if spec.spout is not None or spec.service is not None:  # one actor, not datum tasks
            from raypachy.runtime.longrunning import actor_options

            options = actor_options(spec, self.images)
        else:
            options = task_options(spec, self.images)
        serving, problem = check(options)
        return replace(info, ray_options=options, can_run_on=tuple(serving), placement=problem,
                       service_url=self._service_url(info))  # fmt: skip

    @staticmethod
    def _service_url(info: Any) -> str:
        """Where a running service pipeline's process is reached ("" for other pipelines)."""
        from raypachy.runtime.names import long_running_name

        if info.spec.get("service") is None or info.state != "running":
            return ""
        try:
            actor = ray.get_actor(long_running_name(info.name, "service"), namespace=NAMESPACE)
            url: str = ray.get(actor.info.remote(), timeout=5)["url"]
        except Exception:  # not started yet, or restarting
            return ""
        return url

    def home(self) -> str:
        """The installation's home (a spout's process reads the API token there)."""
        return str(self.pachd.pfs.home or "")

    def reconcile_controllers(self) -> list[str]:
        """One controller per pipeline, in the controller host: tell it which."""
        with self._controllers_lock:
            wanted = sorted(p.name for p in self.pachd.list_pipelines())
            self._host().sync.remote(wanted)  # not waited for: the host may be starting
            return wanted

    def pid(self) -> int:
        import os

        return os.getpid()


class RayService:
    """The API server's way to the metadata actor (an async ``call`` by name)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        read_only = name in READ_ONLY
        for attempt in range(40 if read_only else 1):
            try:
                ok, value = await self.handle.call.remote(name, args, kwargs)
                break
            except (RayActorError, ActorUnavailableError):
                if attempt == (39 if read_only else 0):
                    raise UnavailableError(
                        "the metadata actor is restarting; retry in a few seconds"
                    ) from None
                await asyncio.sleep(0.25)
        return unwrap((ok, value))

    async def wait_change(self, since: int | None, timeout: float) -> int:
        version: int = await self.handle.wait_change.remote(since, timeout)
        return version


def _listen(app: Any, host: str, port: int, tls: TlsFiles | None = None) -> tuple[Any, str]:
    """Serve ``app`` with uvicorn on a thread of its own (https with ``tls``); (server,
    error) — one is empty."""
    import uvicorn

    try:
        # proto=IPPROTO_TCP matters: asyncio enables TCP_NODELAY on accepted connections
        # only for sockets that say so, and without it every keep-alive response waits
        # ~40 ms for a delayed ACK.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        return None, f"cannot listen on {host}:{port}: {e.strerror}"
    config = uvicorn.Config(
        app, log_level="warning", access_log=False,
        ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return server, ""


@ray.remote(num_cpus=0, max_restarts=-1, resources=HEAD_NODE)
class ApiServerActor:
    """Serves the FastAPI app, and the S3 gateway beside it, with uvicorn on threads."""

    def __init__(
        self,
        host: str,
        port: int,
        storage: str,
        token_hash: str | None = None,
        s3_port: int | None = None,
        doors: FrontDoors | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        assert doors is not None
        self.tls = tls is not None
        self.host, self.port, self.s3_port, self.s3_error = host, port, s3_port, ""
        meta = ray.get_actor(METADATA_ACTOR, namespace=NAMESPACE)
        service = RayService(meta)
        api = doors.api(service, storage, token_hash, host)
        self.server, self.error = _listen(api, host, port, tls)
        if s3_port and not self.error:
            app = doors.s3(service, storage, token_hash)
            self.s3_server, self.s3_error = _listen(app, host, s3_port, tls)

    def info(self) -> dict[str, Any]:
        import os

        return {
            "host": self.host, "port": self.port, "error": self.error, "pid": os.getpid(),
            "s3_port": self.s3_port, "s3_error": self.s3_error, "tls": self.tls,
        }  # fmt: skip
