"""The REST API: routers generated from the verb table, and the few written by hand.

Generated (``generate.py``): every verb of ``raypachy.pachd.verbs`` with a route and a JSON
body or query. By hand: what streams bytes (``files.py``, ``code.py``), what holds a request
open (``waits.py``), what checks its caller (``leases.py``) and the cluster's own facts
(``cluster.py``), users and roles (``auth.py``).
"""

from __future__ import annotations

from fastapi import APIRouter

from raypachy.pachd.verbs import ROUTED
from raypachy.server import writes
from raypachy.server.rest import auth, cluster, code, files, leases, waits
from raypachy.server.rest.generate import add_route
from raypachy.server.service import Service
from raypachy.server.waits import Waits


def routers(
    service: Service,
    plane: writes.DataPlane,
    storage_uri: str,
    watch: Waits,
    token_hash: str | None = None,
) -> list[APIRouter]:
    """Every router of the REST API, over ``service``."""
    generated = APIRouter()
    for verb in ROUTED:
        add_route(generated, verb, service)
    return [
        cluster.router(service, storage_uri, watch, token_hash),
        files.router(service, plane),
        code.router(service, plane),
        leases.router(service),
        waits.router(service, watch),
        auth.router(service),
        generated,
    ]
