"""The FastAPI app: pachd's HTTP API, made of the routers of ``raypachy.server.rest``.

The OpenAPI spec is served at ``/openapi.json``. There is no ``/docs`` page: Swagger UI
loads its scripts from a CDN, and a page of the API's own origin must not run third-party
code. ``server.guard`` checks every request first (Host, Origin, content type, token).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Depends, FastAPI

from raypachy import __version__
from raypachy.server import console, errors, rest, writes
from raypachy.server.access import AccessCheck
from raypachy.server.guard import Guard
from raypachy.server.service import Service
from raypachy.server.waits import Waits


def create_app(
    service: Service, storage_uri: str, token_hash: str | None = None, hosts: Iterable[str] = ()
) -> FastAPI:
    """Build the app over ``service`` (the verbs) and the storage it serves bytes from.

    With ``token_hash`` (the SHA-256 of the API token), every request but ``/healthz`` and the
    console's static assets needs ``Authorization: Bearer <token>``; others get 401. Requests
    must name the API by a loopback name or one of ``hosts`` (``"*"``: any name, for a server
    on every interface).
    """
    app = FastAPI(
        title="raypachy", version=__version__, summary="Git for data on Ray",
        docs_url=None, redoc_url=None,
    )  # fmt: skip
    errors.install(app)
    app.add_middleware(
        Guard, token_hash=token_hash, hosts=tuple(hosts),
        is_open=lambda path: path == "/healthz" or console.is_asset(path),
    )  # fmt: skip
    waits = app.state.waits = Waits(service)
    plane = writes.DataPlane(storage_uri)
    # Every route checks its caller (scope "function": what a mutation changes of the roles
    # is done before the response goes).
    checked = [Depends(AccessCheck(service, token_hash), scope="function")]
    for router in rest.routers(service, plane, storage_uri, waits, token_hash):
        app.include_router(router, dependencies=checked)
    console.mount(app, service, plane.chunks, checked)
    return app
