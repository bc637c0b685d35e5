"""Pachyderm fields that raypachy accepts but runs differently: one warning line each.

``create pipeline`` prints these (the API returns them as ``warnings``), so that no field is
accepted and then silently ignored. A field that acts as in Pachyderm is not listed, except
the pod fields, which act only on a worker group the user deploys: one line says so.
"""

from __future__ import annotations

from raypachy.pps.longrunning import long_running_warnings
from raypachy.pps.podgroup import GROUP_LABEL, pod_fields
from raypachy.pps.spec import PfsInput, PipelineSpec, Resources

_SCRATCH = "the datum's scratch directory on the node's disk (RAYPACHY_SCRATCH)"


def _resources(field: str, res: Resources | None, limits: bool, has_requests: bool) -> list[str]:
    out: list[str] = []
    if res is None:
        return out
    if limits:
        for name in ("cpu", "memory"):
            if getattr(res, name) is not None:
                used = "" if has_requests else "; it is used as the request, since none is given"
                out.append(f"{field}.{name} is not enforced: Ray schedules on requests and caps "
                           f"nothing a task uses{used}")  # fmt: skip
    if res.disk is not None:
        out.append(f"{field}.disk is not reserved: Ray schedules on CPUs, memory and GPUs; "
                   f"datums use {_SCRATCH}")  # fmt: skip
    return out


def spec_warnings(spec: PipelineSpec, images: str = "off") -> list[str]:
    """What the cluster does instead of what these fields ask (``images``: its image mode)."""
    out: list[str] = []
    req = spec.resource_requests
    has_requests = req is not None and (req.cpu is not None or req.memory is not None)
    out += _resources("resource_requests", req, False, has_requests)
    out += _resources("resource_limits", spec.resource_limits, True, has_requests)
    for field in ("sidecar_resource_limits", "sidecar_resource_requests"):
        if getattr(spec, field) is not None:
            out.append(f"{field} is ignored: the S3 sidecar runs inside the datum's task and "
                       "shares its resources")  # fmt: skip
    pods = pod_fields(spec)
    if pods.own_group:
        asks = [name for name, value in (
            ("tolerations", pods.tolerations), ("metadata.labels", pods.labels),
            ("metadata.annotations", pods.annotations),
            ("scheduling_spec.priority_class_name", pods.priority_class_name),
        ) if value]  # fmt: skip
        out.append(f"{', '.join(asks)}: its datums run only on its own worker group (Ray label "
                   f"{GROUP_LABEL}={spec.name}), whose pods carry them: render it with "
                   "`raypachy deploy kuberay --pipeline-group SPEC`")  # fmt: skip
    t = spec.transform
    for field, what in (
        ("user", "commands run as the worker's own user"),
        ("memory_volume", f"datums use {_SCRATCH}; point it at a tmpfs for a memory volume"),
        ("image_pull_secrets", "nodes pull images with their own credentials"),
        ("dockerfile", "raypachy builds no image: give a built one in transform.image"),
        ("debug", "datum logs are always kept (raypachy logs)"),
    ):
        if getattr(t, field) not in (None, False, [], ""):
            out.append(f"transform.{field} is ignored: {what}")
    if spec.standby is False:
        out.append("standby: false is ignored: an idle pipeline always releases its workers")
    for field, what in (
        ("enable_stats", "datum stats are always kept, as in Pachyderm 2.x"),
        ("cache_size", "workers keep no datum cache of that size"),
        ("max_queue_size", "parallelism_spec bounds the batches in flight"),
        ("maximum_expected_uptime", "it applies to service and spout pipelines"),
    ):
        if getattr(spec, field) is not None:
            out.append(f"{field} is ignored: {what}")
    out += long_running_warnings(spec.spout, spec.service)
    for leaf in spec.input.leaves():
        dataset = t.python is not None and t.python.kind == "dataset"
        if isinstance(leaf, PfsInput) and leaf.lazy and dataset:
            out.append(f"input {leaf.input_name}: lazy is ignored by a dataset pipeline: its "
                       "rows hold each file's bytes")  # fmt: skip
        if isinstance(leaf, PfsInput) and leaf.repo_type not in (None, "", "user"):
            out.append(f"input {leaf.input_name}: repo_type {leaf.repo_type!r} is ignored: "
                       f"the input reads repo {leaf.repo}")  # fmt: skip
    runs_image = t.image is not None and images != "off"
    if t.image is not None and images == "off":
        out.append(f"transform.image {t.image} is recorded in the version and provenance, but "
                   "datums run in the workers' own environment (the cluster runs with --images "
                   "off)")  # fmt: skip
    if t.python is None and not runs_image and not t.code_paths:
        out.append("transform.cmd: the version covers the spec only, not the scripts the "
                   "command runs; list them in transform.code_paths to make a changed script a "
                   "new version")  # fmt: skip
    return out
