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

from raypachy import errors
from raypachy.errors import RaypachyError, UnavailableError

NAMESPACE = "raypachy"
METADATA_ACTOR = "raypachy:metadata"
API_ACTOR = "raypachy:api"
HEAD_NODE = {"node:__internal_head__": 0.001}
_READ_ONLY = ("list_", "inspect_", "glob_", "diff_", "walk_", "path_kind", "commit_set", "status")

log = logging.getLogger("raypachy.runtime")


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=32, resources=HEAD_NODE)
class MetadataActor:
    """The single writer of the metadata database; runs the PFS operations."""

    def __init__(self, home: str, storage: str) -> None:
        from raypachy.pfs.service import PFS
        from raypachy.server.operations import Operations

        self.ops = Operations(PFS.open(home, storage))

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        from raypachy.server.operations import NAMES

        if name not in NAMES:
            return False, ("InvalidArgumentError", f"unknown operation {name!r}")
        try:
            return True, getattr(self.ops, name)(*args, **kwargs)
        except RaypachyError as e:
            return False, (type(e).__name__, e.message)

    def pid(self) -> int:
        import os

        return os.getpid()


class RayService:
    """The API server's way to the metadata actor (an async ``call`` by name)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        read_only = name.startswith(_READ_ONLY)
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
        if ok:
            return value
        kind, message = value
        cls = getattr(errors, kind, RaypachyError)
        raise cls(message)


@ray.remote(num_cpus=0, max_restarts=-1, resources=HEAD_NODE)
class ApiServerActor:
    """Serves the FastAPI app with uvicorn on a thread of its own."""

    def __init__(self, host: str, port: int, storage: str) -> None:
        import uvicorn

        from raypachy.server.app import create_app

        self.host, self.port, self.error = host, port, ""
        meta = ray.get_actor(METADATA_ACTOR, namespace=NAMESPACE)
        app = create_app(RayService(meta), storage)
        try:
            # proto=IPPROTO_TCP matters: asyncio enables TCP_NODELAY on accepted connections
            # only for sockets that say so, and without it every keep-alive response waits
            # ~40 ms for a delayed ACK.
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as e:
            self.error = f"cannot listen on {host}:{port}: {e.strerror}"
            return
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()

    def info(self) -> dict[str, Any]:
        import os

        return {"host": self.host, "port": self.port, "error": self.error, "pid": os.getpid()}
