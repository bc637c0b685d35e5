"""Stored Python transforms: the raw-body upload for clients that cannot reach storage."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from raypachy.errors import InvalidArgumentError
from raypachy.limits import max_code_bytes
from raypachy.server import bodylimit, leasing, writes
from raypachy.server.service import Service


def router(service: Service, plane: writes.DataPlane) -> APIRouter:
    api = APIRouter(tags=["pipelines"])

    @api.post("/v1/code")
    async def store_code(request: Request) -> Any:
        """Store a pickled Python transform; gc keeps it for the pipeline about to use it."""
        limit = max_code_bytes()
        data = await bodylimit.read(request, "the code upload", limit, "RAYPACHY_MAX_CODE_BYTES")
        if not data:
            raise InvalidArgumentError("empty code upload")
        store = await anyio.to_thread.run_sync(plane.chunks)
        lease = await leasing.own_lease(service)
        try:
            chunk_id, _ = await leasing.heartbeating(service, lease, lambda: store.put(data))
        except BaseException:
            await service.call("release_lease", lease)
            raise
        await service.call("register_code", chunk_id.hex(), lease)
        return {"code": chunk_id.hex()}

    return api
