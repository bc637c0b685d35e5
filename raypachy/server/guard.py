"""Who may talk to the API: checked on every request before any handler runs.

- ``Host`` must name this server: a loopback name or address, or the host it was told to
  listen on. A web page that rebinds its own DNS name to 127.0.0.1 sends its name, and is
  refused (DNS rebinding).
- ``Origin``, when a browser sends one, must be the API's own origin: cross-site pages are
  refused.
- A ``POST`` may not carry a content type that a cross-site form or ``fetch`` sends without
  asking first (``text/plain``, form encodings); raw bodies are ``application/octet-stream``.
  (A browser's cross-site request without one still carries its ``Origin``.)
- With a token, every request but ``/healthz`` (and what the app says is open, such as the
  console's static assets) needs ``Authorization: Bearer <token>``: the cluster's, or under
  ``/v1/`` any, which each route then checks (``server.access``: a user's, once auth is
  active; refused with 401 otherwise).

A pure ASGI middleware: streamed uploads and downloads pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from raypachy.secrets import is_loopback, token_matches
from raypachy.server.errors import error_body

ANY_HOST = "*"
OPEN_PATHS = ("/healthz",)
CHECKED_PREFIX = "/v1/"  # where every route checks its caller's token and roles itself
RAW_BODY_PATHS = ("/v1/files/upload", "/v1/code")
RAW_BODY: dict[str, Any] = {  # how those routes' bodies show in the OpenAPI spec
    "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {}}}}
}
# What browsers send cross-site without a CORS preflight (the CORS-safelisted types).
SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


def hosts_for(bind: str) -> tuple[str, ...]:
    """The names a server listening on ``bind`` answers to besides loopback ones: any, on
    every interface (a token is required there; clients reach it by many names)."""
    return (ANY_HOST,) if bind in ("0.0.0.0", "::", "") else (bind,)


def host_name(host: str) -> str:
    """``host`` of a ``Host`` header value (``[::1]:8650`` -> ``::1``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """The checks above, in that order; a refused request gets one JSON error line."""

    def __init__(
        self,
        app: ASGIApp,
        token_hash: str | None = None,
        hosts: Iterable[str] = (),
        is_open: Callable[[str], bool] = OPEN_PATHS.__contains__,
    ) -> None:
        self.app = app
        self.token_hash = token_hash
        self.is_open = is_open  # paths served without the token
        self.hosts = {host_name(h) for h in hosts if h}
        self.any_host = ANY_HOST in self.hosts

    def _host_ok(self, name: str) -> bool:
        return self.any_host or is_loopback(name) or name in self.hosts

    def refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, code, message) when the request is refused, else None."""
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if not self._host_ok(host_name(host)):
            return 403, "forbidden", (
                f"Host {host!r} is not this API's name: use 127.0.0.1, localhost or the "
                "address the API listens on (other names are refused against DNS rebinding)"
            )  # fmt: skip
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in (f"http://{host}", f"https://{host}"):
            return 403, "forbidden", (
                f"cross-origin request from {origin!r} refused: the API answers only its own "
                "origin and clients that send no Origin"
            )  # fmt: skip
        path = scope.get("path", "")
        if scope.get("method") == "POST":
            kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind in SIMPLE_TYPES:
                raw = path in RAW_BODY_PATHS
                wanted = "application/octet-stream" if raw else "application/json"
                return 415, "unsupported_media_type", (
                    f"POST {path} with Content-Type {kind!r} refused (a cross-site form could "
                    f"send it): send Content-Type: {wanted}"
                )  # fmt: skip
        if self.token_hash and not self.is_open(path):
            scheme, _, presented = headers.get("authorization", "").partition(" ")
            # Another token may be a user's: the routes of /v1/ check it (server.access).
            deferred = path.startswith(CHECKED_PREFIX) and scheme.lower() == "bearer" and presented
            if not deferred and (
                scheme.lower() != "bearer" or not token_matches(presented, self.token_hash)
            ):
                return 401, "unauthenticated", (
                    "missing or wrong API token: set RAYPACHY_TOKEN to the cluster's token (on "
                    "the machine that runs `raypachy up`, clients read $RAYPACHY_HOME/token)"
                )  # fmt: skip
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.refusal(scope)
            if refused is not None:
                status, code, message = refused
                kind = {401: "Unauthenticated", 403: "Forbidden"}.get(
                    status, "UnsupportedMediaType"
                )
                headers: dict[str, Any] = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
                response = JSONResponse(error_body(code, message, kind), status, headers=headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
