"""Spouts and services: pipelines whose transform is a long-running process, not datums.

A spout (``"spout": {}``) has no input: its process runs for good and commits to the
pipeline's output repo itself (Pachyderm 2.x: with ``pachctl put file``; here with
``raypachy put file`` or the client it is given). A service (``"service": {"internal_port":
8000}``) serves its input's head at ``/pfs/<input>`` and starts again on each new input
commit. Neither has jobs or datums; the runtime keeps their process up
(``raypachy.runtime.longrunning``), and its output is the pipeline's logs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from raypachy.errors import InvalidSpecError

Kind = Literal["spout", "service"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class ServiceSpec(_Model):
    """Where a service listens (``internal_port``) and where it is reached
    (``external_port``, Pachyderm's NodePort: forwarded to the internal port)."""

    internal_port: int = Field(ge=1, le=65535)
    external_port: int | None = Field(None, ge=1, le=65535)
    ip: str | None = None
    type: str | None = None
    annotations: dict[str, str] | None = None


class SpoutSpec(_Model):
    """``"spout": {}``; ``service`` (a spout that also serves) is refused."""

    overwrite: bool | None = None
    service: dict[str, Any] | None = None


def kind_of(spec: dict[str, Any]) -> Kind | None:
    """``spout``, ``service`` or None for a stored spec (as JSON)."""
    if spec.get("spout") is not None:
        return "spout"
    if spec.get("service") is not None:
        return "service"
    return None


def check_long_running(name: str, spout: Any, service: Any, has_input: bool,
                       transform: Any) -> None:  # fmt: skip
    """One line for a spout or service spec that cannot run."""
    python = transform.python
    if (spout is not None or service is not None) and transform.secrets:
        raise InvalidSpecError(
            f"pipeline {name}: transform.secrets is not supported for a "
            f"{'spout' if spout is not None else 'service'} yet: give the workers the value in "
            "their environment"
        )
    if spout is not None:
        if service is not None or spout.service is not None:
            raise InvalidSpecError(
                f"pipeline {name}: a spout that is also a service is not supported yet: run "
                "the server as a service pipeline reading the spout's output repo"
            )
        if has_input:
            raise InvalidSpecError(
                f"pipeline {name}: a spout has no input (it writes its output repo itself): "
                "drop input, or drop spout for a pipeline that reads it"
            )
        if python is not None and python.kind != "spout":
            raise InvalidSpecError(
                f"pipeline {name}: a spout's Python transform is a function of (client, repo): "
                "decorate it with @raypachy.spout"
            )
        return
    if python is not None and python.kind == "spout":
        raise InvalidSpecError(f"pipeline {name}: a @raypachy.spout function needs "
                               '"spout": {} in its spec')  # fmt: skip
    if not has_input:
        raise InvalidSpecError(f"pipeline {name}: missing field 'input' in the pipeline spec")
    if service is not None and python is not None:
        raise InvalidSpecError(
            f"pipeline {name}: a service runs a command (transform.cmd) that listens on "
            "internal_port, not a Python function"
        )


def long_running_warnings(spout: SpoutSpec | None, service: ServiceSpec | None) -> list[str]:
    """The spout and service fields that act differently here (one line each)."""
    out = []
    if spout is not None and spout.overwrite is not None:
        out.append("spout.overwrite is ignored (Pachyderm 1.x): a spout's commits add to its "
                   "output repo; delete files in the commit to replace them")  # fmt: skip
    if service is not None:
        for field in ("type", "ip", "annotations"):
            if getattr(service, field) is not None:
                out.append(f"service.{field} is ignored: no Kubernetes Service is made; the "
                           "process listens on its node (external_port forwarded)")  # fmt: skip
    return out


def process_log_key(pipeline: str) -> str:
    """What a spout's or service's process printed (its tail), in the storage backend."""
    return f"logs/{pipeline}/process/log"
