"""The front doors the control plane serves, handed to the runtime (which imports none)."""

from __future__ import annotations

from typing import Any

from raypachy.runtime.names import FrontDoors
from raypachy.server.app import create_app
from raypachy.server.guard import hosts_for
from raypachy.server.s3 import create_s3_app
from raypachy.server.s3.sidecar import datum_sidecar
from raypachy.server.service import Service


def api_app(service: Service, storage: str, token_hash: str | None, host: str) -> Any:
    """The HTTP API, answering to the names a server listening on ``host`` goes by."""
    return create_app(service, storage, token_hash, hosts_for(host))


def front_doors() -> FrontDoors:
    """The HTTP API, the S3 gateway and the datum S3 sidecar."""
    return FrontDoors(api=api_app, s3=create_s3_app, sidecar=datum_sidecar)
