"""A pipeline's resources in Ray's words (DESIGN section 6).

cpu -> ``num_cpus``, memory -> ``memory`` (bytes), gpu.number -> ``num_gpus``, gpu.type ->
``accelerator_type``, ``scheduling_spec.node_selector`` -> ``label_selector``; tolerations,
metadata or a priority class -> ``label_selector`` of the pipeline's own worker group
(``raypachy.pps.podgroup``). Limits are requests when no request is given (Ray schedules on
requests and enforces no limit).
"""

from __future__ import annotations

from typing import Any

from raypachy.pps.images import IMAGE_LABEL, image_label
from raypachy.pps.podgroup import group_selector
from raypachy.pps.spec import PipelineSpec, RayOptions

# Kubernetes resource names are not accelerator types: they only say "a GPU".
_GENERIC_GPU = {"", "nvidia.com/gpu", "amd.com/gpu", "gpu"}


def task_options(spec: PipelineSpec, images: str = "off") -> dict[str, Any]:
    """Ray task options for the pipeline's datum batches (``images``: the image mode)."""
    req, lim = spec.resource_requests, spec.resource_limits
    ray_opts = spec.ray or RayOptions.model_validate({})
    options: dict[str, Any] = {"num_cpus": 1.0, "max_retries": ray_opts.max_retries}
    # Ray caps nothing a task uses: a limit given without a request is used as the request,
    # as Kubernetes does, and `create pipeline` warns that it is not enforced.
    cpus = req.cpus() if req is not None else None
    if cpus is None and lim is not None:
        cpus = lim.cpus()
    if cpus is not None:
        options["num_cpus"] = cpus
    memory = req.memory_bytes() if req is not None else None
    if memory is None and lim is not None:
        memory = lim.memory_bytes()
    if memory:
        options["memory"] = memory
    gpu = (req.gpu if req is not None and req.gpu and req.gpu.number else None) or (
        lim.gpu if lim is not None and lim.gpu and lim.gpu.number else None
    )
    if gpu is not None:
        options["num_gpus"] = gpu.number
        if gpu.type not in _GENERIC_GPU:
            options["accelerator_type"] = gpu.type
    selector = dict(spec.scheduling_spec.node_selector) if spec.scheduling_spec else {}
    selector.update(group_selector(spec))  # pod fields: only the pipeline's own worker group
    runtime_env = dict(ray_opts.runtime_env)
    image = spec.transform.image
    if image and images == "runtime_env":
        runtime_env["image_uri"] = image
    elif image and images == "label":
        selector[IMAGE_LABEL] = image_label(image)
    if selector:
        options["label_selector"] = selector
    if runtime_env:
        options["runtime_env"] = runtime_env
    return options


def default_parallelism(spec: PipelineSpec, free_cpus: float) -> int:
    """``parallelism_spec.constant``, else as many batches as the cluster's free CPUs allow."""
    if spec.parallelism_spec is not None and spec.parallelism_spec.constant:
        return spec.parallelism_spec.constant
    per_task = task_options(spec)["num_cpus"] or 1.0
    return max(1, int(free_cpus // per_task))
