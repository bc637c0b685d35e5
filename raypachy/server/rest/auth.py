"""Users, tokens and roles over HTTP: the verb table's ``auth`` rows, each handed the caller
that ``raypachy.server.access`` identified (never a name the request gives for itself)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Request

from raypachy.pachd.auth import Identity
from raypachy.pachd.roles import parse_ttl
from raypachy.server.rest.bodies import CreateToken, Revoke, SetRole
from raypachy.server.service import Service

_KIND = Query(pattern="^(repo|project|cluster)$", description="repo, project or cluster")
_NAME = Query("", max_length=256)


def _caller(request: Request) -> str:
    identity: Identity = request.state.identity
    return identity.principal


def router(service: Service) -> APIRouter:
    api = APIRouter(tags=["auth"])

    @api.post("/v1/auth/activate")
    async def auth_activate() -> dict[str, Any]:
        """Turn on users and roles; answers the root user's token, this once."""
        token = await service.call("auth_activate")
        return {"principal": "pach:root", "token": token}

    @api.get("/v1/auth/whoami")
    async def auth_whoami(request: Request) -> dict[str, Any]:
        """Who the request's token is (empty before auth is activated)."""
        return asdict(request.state.identity)

    @api.post("/v1/auth/tokens")
    async def auth_create_token(request: Request, body: CreateToken) -> dict[str, Any]:
        """A new token for a user (clusterAdmin); answered this once, kept as its hash."""
        ttl_s = parse_ttl(body.ttl)
        created: dict[str, Any] = await service.call(
            "auth_create_token", _caller(request), body.user, ttl_s
        )
        return created

    @api.post("/v1/auth/revoke")
    async def auth_revoke(request: Request, body: Revoke) -> dict[str, Any]:
        """Revoke one token (its holder or a clusterAdmin) or all of a user's."""
        count = await service.call("auth_revoke", _caller(request), body.token, body.user)
        return {"revoked": count}

    @api.post("/v1/auth/roles")
    async def auth_set_role(request: Request, body: SetRole) -> list[dict[str, Any]]:
        """Grant a role on a repo, the project or the cluster (``remove``: take it back)."""
        bindings = await service.call(
            "auth_set_role", _caller(request), body.kind, body.name, body.principal,
            body.role, body.remove,
        )  # fmt: skip
        return [asdict(b) for b in bindings]

    @api.get("/v1/auth/roles")
    async def auth_get_roles(kind: str = _KIND, name: str = _NAME) -> list[dict[str, Any]]:
        """Who holds which role on a repo, the project or the cluster."""
        return [asdict(b) for b in await service.call("auth_get_roles", kind, name)]

    @api.get("/v1/auth/check")
    async def auth_check(request: Request, kind: str = _KIND, name: str = _NAME) -> Any:
        """The roles the caller holds that reach an object, and what they permit there."""
        return await service.call("auth_check", _caller(request), kind, name)

    @api.get("/v1/auth/audit")
    async def auth_audit(
        since: float = Query(0.0, ge=0, description="Seconds since the epoch."),
        limit: int = Query(1000, ge=1, le=10_000),
    ) -> list[dict[str, Any]]:
        """Every mutation users asked since ``since``, oldest first: who, what, when."""
        return [asdict(a) for a in await service.call("auth_audit", since, limit)]

    return api
