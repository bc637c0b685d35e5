"""What serves the API: health, configuration and status."""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter, Query

from raypachy import __version__, secrets
from raypachy.secrets import server_proof
from raypachy.server.service import Service
from raypachy.server.waits import Waits

_CHALLENGE = Query(None, min_length=16, max_length=128, pattern="^[0-9a-f]+$")
_TOKEN_REF = Query(None, min_length=64, max_length=64, pattern="^[0-9a-f]+$")


def router(service: Service, storage_uri: str, waits: Waits, token_hash: str | None) -> APIRouter:
    api = APIRouter(tags=["cluster"])

    @api.get("/healthz")
    async def healthz(
        challenge: str | None = _CHALLENGE, token_ref: str | None = _TOKEN_REF
    ) -> dict[str, Any]:
        """Liveness, open to all; with a ``challenge`` the server proves it holds the token
        (the cluster's, or the user's that ``token_ref`` names: ``raypachy.secrets``)."""
        reply: dict[str, Any] = {"ok": True, "version": __version__}
        if challenge and token_hash:
            key: str | None = token_hash
            if token_ref and token_ref != secrets.token_ref(token_hash):
                key = await service.call("auth_proof_key", token_ref)
            if key:
                reply["proof"] = server_proof(key, challenge)
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
