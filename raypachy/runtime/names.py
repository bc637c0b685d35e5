"""Names the control plane's actors share (plain data: importing this loads no ray)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raypachy import errors
from raypachy.errors import RaypachyError

NAMESPACE = "raypachy"
METADATA_ACTOR = "raypachy:metadata"
API_ACTOR = "raypachy:api"
HEAD_NODE = {"node:__internal_head__": 0.001}


CONTROLLER_HOST = "raypachy:controllers"  # every pipeline's controller, in one process


def pool_worker_name(pipeline: str, slot: int) -> str:
    """A class pipeline's worker actor, as the dashboard shows it."""
    return f"raypachy:{pipeline}:worker:{slot}"


def long_running_name(pipeline: str, kind: str) -> str:
    """The actor of a spout's or service's process (``kind``), as the dashboard shows it."""
    return f"raypachy:{pipeline}:{kind}"


def unwrap(reply: tuple[bool, Any]) -> Any:
    """The value of a metadata actor reply, or its error raised again."""
    ok, value = reply
    if ok:
        return value
    kind, message = value
    cls = getattr(errors, kind, RaypachyError)
    raise cls(message)


@dataclass(frozen=True)
class FrontDoors:
    """What the control plane serves, handed down by the layer that defines it (the CLI's
    ``serve`` passes ``raypachy.server``'s factories): the runtime never imports a front door.

    ``api(service, storage, token_hash, host)`` and ``s3(service, storage, token_hash)`` make
    ASGI apps over a ``Service``; ``sidecar(chunks)`` is the context manager a batch with S3
    inputs or ``s3_out`` runs its datums in. Module-level functions: they travel to the
    actors by reference.
    """

    api: Callable[..., Any]
    s3: Callable[..., Any]
    sidecar: Callable[[Any], Any]
