"""The web console: a single page served at ``/console``, a client of the HTTP API.

The page's assets (``static/``: HTML, CSS, ES modules and the vendored dagre layout library)
hold no data and need no token; every data call the page makes carries the token the user
typed into its login form (kept in the browser's sessionStorage, never in a URL). The few
routes the page needs beyond the REST API live in ``routes``.

Stable ``data-testid`` attributes, for tests and for anyone scripting the page:
``dag-node-<name>`` (``data-kind`` repo or pipeline, ``data-state``; a pipeline and its
output repo share the name), ``job-row-<pipeline>@<job id>`` (``data-state``; a global id is
shared by the jobs of every pipeline it reached, so the row names both), ``job-group-<id>``,
``datum-row-<datum id>``, ``file-row-<path>``, ``diff-row-<path>`` (``data-change``),
``lineage-node-<repo>@<commit>``, ``lineage-pipeline-<name>@<version>``, ``error`` (the
one-line message of a failed call) and ``login-form``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from raypachy.server.console.events import JobFeed
from raypachy.server.console.routes import router
from raypachy.server.service import Service

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"

# The page loads only its own scripts and talks only to its own origin: a file previewed in
# it can run nothing, and nothing can frame it.
HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]  # fmt: skip


def is_asset(path: str) -> bool:
    """A request for the console's static assets (served without a token)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class _Assets:
    """The static files, with the headers above on every response."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.files(scope, receive, send_with_headers)


def mount(
    app: FastAPI, service: Service, chunks: Callable[[], Any], dependencies: Sequence[Any] = ()
) -> None:
    """Add the console's routes (checked by ``dependencies``) and assets to the API ``app``
    (its job feed: ``app.state``)."""
    app.state.job_feed = JobFeed(service)
    app.include_router(router(service, chunks, app.state.job_feed), dependencies=dependencies)
    app.mount(PREFIX, _Assets(), name="console")
