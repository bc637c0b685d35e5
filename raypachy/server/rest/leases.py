"""Write leases for API callers, as the server sees them (``raypachy.server.leasing``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from raypachy.server import leasing
from raypachy.server.rest import bodies
from raypachy.server.service import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(tags=["data plane"])

    @api.post("/v1/leases")
    async def acquire_lease(request: Request, body: bodies.Lease) -> Any:
        """A write lease for the caller: heartbeat it every ``heartbeat_s``; after ``ttl_s``
        without one it is gone."""
        return await leasing.caller_lease(service, request, body.pid, body.host)

    return api
