"""What serves the API: health, configuration and status."""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter

from raypachy import __version__
from raypachy.server.service import Service
from raypachy.server.waits import Waits


def router(service: Service, storage_uri: str, waits: Waits) -> APIRouter:
    api = APIRouter(tags=["cluster"])

    @api.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Is the API up (no token needed)."""
        return {"ok": True, "version": __version__}

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
