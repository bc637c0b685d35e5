"""What serves the API: health, configuration and status."""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter, Query

from raypachy import __version__
from raypachy.secrets import server_proof
from raypachy.server.service import Service
from raypachy.server.waits import Waits

_CHALLENGE = Query(None, min_length=16, max_length=128, pattern="^[0-9a-f]+$")


def router(service: Service, storage_uri: str, waits: Waits, token_hash: str | None) -> APIRouter:
    api = APIRouter(tags=["cluster"])

    @api.get("/healthz")
    async def healthz(challenge: str | None = _CHALLENGE) -> dict[str, Any]:
        """Liveness, open to all; with a ``challenge`` the server proves it holds the token."""
        reply: dict[str, Any] = {"ok": True, "version": __version__}
        if challenge and token_hash:
            reply["proof"] = server_proof(token_hash, challenge)
        return reply

    @api.get("/v1/config")
    async def config() -> dict[str, Any]:
        """Where the data is: the storage URI clients write chunks to."""
        return {"storage": storage_uri, "version": __version__}

    @api.get("/v1/status")
    async def status() -> dict[str, Any]:
        """This API server and the metadata side behind it."""
        meta = await service.call("status")
        api_info = {"pid": os.getpid(), "host": socket.gethostname(), "waits": waits.count}
        return {"api": api_info, "metadata": meta}

    return api
