"""Every route checks its caller: one FastAPI dependency on every router of the API.

The route names its verb (the verb table's route, or ``EXTRA`` for the console's and the
cluster's own routes); ``raypachy.pachd.access.needs`` says what the verb needs from its
arguments (path, query and JSON body); the metadata side says who the token is and whether
they hold it (one call, ``authorize``, which also writes a denied mutation to the audit
log; an allowed one is written once its handler ended, with its outcome, failed or not). A
listing across objects needs no role: its route answers with what the caller may read
(``request.state.sight``, ``raypachy.pachd.visibility``). A route no rule covers is
refused. Before ``auth activate`` the cluster's token is all there is, and the server asks
the database again at most every ``RECHECK_S`` seconds whether someone activated auth
meanwhile (activating through this server takes effect at once).
"""

from __future__ import annotations

import contextvars
import hmac
import inspect
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import HTTPException, Request

from raypachy.errors import PermissionDeniedError, RaypachyError
from raypachy.pachd.access import SIFTED, described, needs, pipeline_name, sift
from raypachy.pachd.auth import Identity
from raypachy.pachd.roles import Need, Permission
from raypachy.pachd.verbs import VERBS, Access, join_project
from raypachy.pachd.visibility import Sight
from raypachy.secrets import token_hash
from raypachy.server.service import Service

RECHECK_S = 2.0

#: Routes outside the verb table, and the verb whose rule they follow.
EXTRA = {
    ("GET", "/v1/config"): "config",
    ("GET", "/v1/events/jobs"): "list_jobs",
    ("GET", "/v1/files/preview"): "open_file",
    ("GET", "/v1/files/diff/text"): "diff_files",
    ("GET", "/v1/files/writers"): "list_files",
    ("GET", "/v1/jobs/{pipeline}/{job}/progress"): "inspect_job",
    ("GET", "/v1/logs/datum"): "logs",
}

_CONVERTER = re.compile(r"{(\w+):\w+}")  # "{datum:path}": the OpenAPI spec says "{datum}"


def _bare(path: str) -> str:
    return _CONVERTER.sub(r"{\1}", path)


_BY_ROUTE = {(v.method, _bare(v.path)): v.name for v in VERBS.values() if v.route} | EXTRA


def route_verb(method: str, path: str) -> str | None:
    """The verb a route (``GET``, ``/v1/repos/{name}``) serves, if any rule covers it."""
    return _BY_ROUTE.get((method, _bare(path)))


def outcome_of(error: BaseException | None) -> str:
    """How a mutation ended, for the audit log: ``ok`` or ``failed: <one line>``."""
    if error is None:
        return "ok"
    if isinstance(error, RaypachyError):
        why = f"{type(error).__name__}: {error.message}"
    elif isinstance(error, HTTPException):
        why = f"HTTP {error.status_code}: {error.detail}"
    else:
        why = type(error).__name__
    return "failed: " + " ".join(why.split())[:500]


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes")


class AccessCheck:
    """The dependency: ``request.state.identity`` is who asks, once allowed."""

    def __init__(self, service: Service, cluster_hash: str | None) -> None:
        self.service = service
        self.cluster_hash = cluster_hash
        self._active = False  # once active, auth stays active
        self._inactive_until = 0.0

    async def _arguments(self, request: Request, verb: str) -> dict[str, Any]:
        """The verb's arguments by the API's names, from the path, the query and the body."""
        http: dict[str, Any] = dict(request.query_params) | dict(request.path_params)
        row = VERBS.get(verb)
        if row is not None and row.body:  # JSON only: raw uploads are never read here
            try:
                body = await request.json()
            except ValueError:  # refused as malformed by the route itself
                body = None
            if isinstance(body, Mapping):
                http |= dict(body)
        if row is not None:
            http = join_project(row, http)
        names = {row.http_name(a): a for a in row.wire} if row is not None else {}
        if "id" in http and verb in ("start_commit",):
            names["id"] = "commit_id"
        return {names.get(k, k): v for k, v in http.items()}

    def _bearer(self, request: Request) -> tuple[str | None, str]:
        """The presented token's hash, and what it is: ``cluster`` (the cluster's own token),
        ``token`` (another: a user's, once auth is active) or ``none`` (no token, which the
        guard lets through only to a server without one)."""
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        hashed = token_hash(presented) if scheme.lower() == "bearer" and presented else None
        if hashed is None:
            return None, "none"
        if self.cluster_hash is not None and hmac.compare_digest(hashed, self.cluster_hash):
            return hashed, "cluster"
        return hashed, "token"

    async def __call__(self, request: Request) -> AsyncIterator[None]:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        verb = route_verb(request.method, path)
        if verb is None and request.method == "HEAD":
            verb = route_verb("GET", path)
        if path == "/healthz":
            yield
            return
        if verb is None:
            raise PermissionDeniedError(f"no access rule covers {request.method} {path}: refused")
        args = await self._arguments(request, verb)
        # Arguments a rule reads are missing (the route refuses such a request itself): only
        # a clusterAdmin gets as far as that refusal.
        needed = needs(verb, args)
        if needed is None:
            needed = [Need(Permission.CLUSTER_ADMIN)]
        hashed, presented = self._bearer(request)
        # A denied mutation is audited as it is refused, an allowed one once its handler
        # ended (ok or failed: why); the auth verbs audit themselves, with what they did.
        mutation = verb in VERBS and VERBS[verb].access is Access.WRITE
        mutation = mutation and not verb.startswith("auth_")
        detail = described(verb, args) if mutation else ""
        owner = presented != "token"  # all there is before activation
        if owner and not self._active and time.monotonic() < self._inactive_until:
            identity = Identity("", active=False)
        else:
            identity = await self.service.call(
                "authorize", hashed, presented, needed, verb if mutation else "", detail
            )
            if identity.active:
                self._active = True
            else:
                self._inactive_until = time.monotonic() + (
                    0.0 if verb == "auth_activate" else RECHECK_S
                )
        request.state.identity = identity
        request.state.sight = None  # None: everything (auth is not active)
        if verb in SIFTED and identity.active:
            request.state.sight = await self.service.call("auth_sight", identity.principal)
        if mutation and identity.active:
            try:
                yield
            except BaseException as e:
                await self.service.call(
                    "audit_mutation", identity.principal, verb, detail, outcome_of(e)
                )
                raise
            await self.service.call("audit_mutation", identity.principal, verb, detail, "ok")
        else:
            yield
        if verb == "auth_activate":
            self._active = True
        if identity.active:
            await self._after(verb, args, identity.principal)

    async def _after(self, verb: str, args: Mapping[str, Any], principal: str) -> None:
        """What a mutation changes of the roles: creators own, deleted repos lose theirs."""
        if verb == "create_project" and not _truthy(args.get("update")):
            await self.service.call("auth_created", principal, str(args.get("name")), "project")
        elif verb == "delete_project":
            await self.service.call("auth_deleted", str(args.get("name")), "project")
        elif verb == "create_repo" and not _truthy(args.get("update")):
            await self.service.call("auth_created", principal, str(args.get("name")))
        elif verb == "put_pipeline" and not _truthy(args.get("update")):
            await self.service.call("auth_created", principal, pipeline_name(args.get("pipeline")))
        elif verb == "delete_repo" or (
            verb == "delete_pipeline" and not _truthy(args.get("keep_repo"))
        ):
            await self.service.call("auth_deleted", str(args.get("name")))


def sight_of_request(request: Request) -> Sight | None:
    """What the request's caller sees of a listing (None: everything), as the access check
    found it."""
    sight: Sight | None = getattr(request.state, "sight", None)
    return sight


# --- the S3 gateway: each verb it asks is checked for the request's signer ------------------

_SIGNER: contextvars.ContextVar[tuple[str | None, str] | None] = contextvars.ContextVar(
    "raypachy_s3_signer", default=None
)
#: Internal verbs the gateway asks on any signer's behalf (a write's lease).
_GATEWAY_INTERNAL = frozenset({"grant_lease"})


class CheckedService:
    """A ``Service`` for the S3 gateway: every verb it asks while serving a request is
    checked against the roles of that request's signer (SigV4's access key is a token, as
    in Pachyderm), with the verb's rule (``raypachy.pachd.access``)."""

    def __init__(self, service: Service, cluster_hash: str | None) -> None:
        self.service = service
        self.cluster_hash = cluster_hash
        self._active = False
        self._inactive_until = 0.0

    def bind(self, access_key: str | None) -> None:
        """Who signs the request being served (None: unsigned, to a server without a token)."""
        if access_key is None:
            _SIGNER.set((None, "none"))
            return
        hashed = token_hash(access_key)
        cluster = self.cluster_hash is not None and hmac.compare_digest(hashed, self.cluster_hash)
        _SIGNER.set((hashed, "cluster" if cluster else "token"))

    async def identify(self) -> Identity:
        """Who signs the request (``UnauthenticatedError`` for a token nobody holds)."""
        return await self._authorize([], "", "")

    async def _authorize(self, needed: list[Need], action: str, detail: str) -> Identity:
        signer = _SIGNER.get()
        if signer is None:  # outside a request (an upload's heartbeat): nothing to check
            return Identity("", active=False)
        hashed, presented = signer
        if presented != "token" and not self._active and time.monotonic() < self._inactive_until:
            return Identity("", active=False)
        identity: Identity = await self.service.call(
            "authorize", hashed, presented, needed, action, detail
        )
        if identity.active:
            self._active = True
        else:
            self._inactive_until = time.monotonic() + RECHECK_S
        return identity

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        if name not in _GATEWAY_INTERNAL:
            named = _api_arguments(name, args, kwargs)
            needed = needs(name, named)
            if needed is None:
                needed = [Need(Permission.CLUSTER_ADMIN)]
            write = name in VERBS and VERBS[name].access is Access.WRITE
            detail = described(name, named) if write else ""
            identity = await self._authorize(needed, name if write else "", detail)
            if write and identity.active:  # audited once it ended, with its outcome
                try:
                    result = await self.service.call(name, *args, **kwargs)
                except BaseException as e:
                    await self.service.call(
                        "audit_mutation", identity.principal, name, detail, outcome_of(e)
                    )
                    raise
                await self.service.call("audit_mutation", identity.principal, name, detail, "ok")
                return result
            if name in SIFTED and identity.active:  # a listing: what the signer may read
                sight = await self.service.call("auth_sight", identity.principal)
                return sift(name, await self.service.call(name, *args, **kwargs), sight)
        return await self.service.call(name, *args, **kwargs)

    async def wait_change(self, since: int | None, timeout: float) -> int:
        return await self.service.wait_change(since, timeout)


def _api_arguments(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A verb's arguments by the API's names (``walk_data(t, p)``: target, path)."""
    from raypachy.pachd.api import API

    method = getattr(API, name, None)
    if method is None:
        return dict(kwargs)
    bound = inspect.signature(method).bind_partial(None, *args, **kwargs)
    return {k: v for k, v in bound.arguments.items() if k != "self"}
