"""Pod fields of a pipeline spec, carried to the pods that run it (no Kubernetes calls here).

Pachyderm puts ``tolerations``, ``metadata.labels``/``annotations`` and
``scheduling_spec.priority_class_name`` (and ``node_selector``) on a pipeline's worker pods.
raypachy's workers are the Ray nodes of KubeRay worker groups, so a pipeline that asks for
any of the first four runs on a worker group of its own: ``raypachy deploy kuberay
--pipeline-group SPEC`` renders it with those fields on its pod template, and Ray node label
``raypachy.io/pipeline=<name>``; the pipeline's datums ask for that label (``label_selector``),
so they run only there. ``node_selector`` keeps acting alone (as Ray labels); on the
pipeline's group it is also the pods' ``nodeSelector`` and the group's Ray labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raypachy.errors import InvalidSpecError

if TYPE_CHECKING:
    from raypachy.pps.spec import PipelineSpec

#: The Ray node label of a pipeline's own worker group; its value is the pipeline's name.
GROUP_LABEL = "raypachy.io/pipeline"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}


@dataclass(frozen=True, slots=True)
class PodFields:
    """What a pipeline asks of the pods that run it, as Kubernetes spells it."""

    pipeline: str
    tolerations: tuple[dict[str, Any], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    priority_class_name: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    gpus: int = 0

    @property
    def own_group(self) -> bool:
        """Whether the pipeline needs pods of its own (a node selector alone does not)."""
        return bool(self.tolerations or self.labels or self.annotations or
                    self.priority_class_name)  # fmt: skip


def pod_fields(spec: PipelineSpec) -> PodFields:
    meta, sched = spec.metadata, spec.scheduling_spec
    gpus = max((r.gpu.number for r in (spec.resource_requests, spec.resource_limits)
                if r is not None and r.gpu is not None), default=0)  # fmt: skip
    return PodFields(
        spec.name,
        tuple(spec.tolerations or ()),
        dict(meta.labels) if meta else {},
        dict(meta.annotations) if meta else {},
        (sched.priority_class_name or "") if sched else "",
        dict(sched.node_selector) if sched else {},
        gpus,
    )


def group_selector(spec: PipelineSpec) -> dict[str, str]:
    """The Ray label selector that keeps the pipeline's datums on its own worker group."""
    return {GROUP_LABEL: spec.name} if pod_fields(spec).own_group else {}


def _label_map(where: str, items: dict[str, str], values: bool) -> None:
    for key, value in items.items():
        if not _LABEL_KEY.match(key):
            raise InvalidSpecError(
                f"{where} key {key[:80]!r} is not a Kubernetes label key: [prefix/]name, "
                "name 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
            )
        if values and not _LABEL_VALUE.match(str(value)):
            raise InvalidSpecError(
                f"{where} {key} value {str(value)[:80]!r} is not a Kubernetes label value: "
                "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
            )


def check_pod_fields(spec: PipelineSpec) -> None:
    """Refuse, in one line, what Kubernetes would refuse when the group is applied."""
    for i, tol in enumerate(spec.tolerations or []):
        where = f"tolerations[{i}]"
        if not isinstance(tol, dict) or not set(tol) <= _TOLERATION_KEYS:
            extra = sorted(set(tol) - _TOLERATION_KEYS) if isinstance(tol, dict) else []
            raise InvalidSpecError(
                f"{where} "
                + (f"has unknown field {extra[0]!r}" if extra else "is not an object")
                + ": a toleration has key, operator (Exists or Equal), value, effect "
                "(NoSchedule, PreferNoSchedule or NoExecute) and tolerationSeconds"
            )
        operator = tol.get("operator", "Equal")
        if operator not in ("Exists", "Equal"):
            raise InvalidSpecError(f"{where}.operator {str(operator)[:40]!r}: use Exists or Equal")
        if operator == "Exists" and tol.get("value"):
            raise InvalidSpecError(f"{where}: operator Exists takes no value; drop the value")
        if tol.get("effect", "") not in _EFFECTS:
            raise InvalidSpecError(
                f"{where}.effect {str(tol['effect'])[:40]!r}: use NoSchedule, PreferNoSchedule "
                "or NoExecute"
            )
        if not tol.get("key") and operator != "Exists":
            raise InvalidSpecError(f"{where}: an empty key needs operator Exists")
    if spec.metadata is not None:
        _label_map("metadata.labels", spec.metadata.labels, True)
        _label_map("metadata.annotations", spec.metadata.annotations, False)
    sched = spec.scheduling_spec
    priority = sched.priority_class_name if sched is not None else None
    if priority is not None and not _DNS_SUBDOMAIN.match(priority):
        raise InvalidSpecError(
            f"scheduling_spec.priority_class_name {priority[:80]!r} is not a PriorityClass "
            "name: lowercase letters, digits, '-' and '.'"
        )
    if pod_fields(spec).own_group and not _LABEL_VALUE.match(spec.name):
        raise InvalidSpecError(
            f"a pipeline with pod fields runs on its own worker group, labelled {GROUP_LABEL}="
            f"{spec.name}, which is not a label value: start and end its name alphanumeric"
        )
