"""A pipeline's resources in Ray's words (DESIGN section 6).

cpu -> ``num_cpus``, memory -> ``memory`` (bytes), gpu.number -> ``num_gpus``, gpu.type ->
``accelerator_type``, ``scheduling_spec.node_selector`` -> ``label_selector``.
"""

from __future__ import annotations

from typing import Any

from raypachy.pps.spec import PipelineSpec

# Kubernetes resource names are not accelerator types: they only say "a GPU".
_GENERIC_GPU = {"", "nvidia.com/gpu", "amd.com/gpu", "gpu"}


def task_options(spec: PipelineSpec) -> dict[str, Any]:
    """Ray task options for the pipeline's datum batches."""
    req, lim = spec.resource_requests, spec.resource_limits
    options: dict[str, Any] = {"num_cpus": 1.0, "max_retries": 3}
    cpus = req.cpus() if req is not None else None
    if cpus is not None:
        options["num_cpus"] = cpus
    memory = req.memory_bytes() if req is not None else None
    if memory:
        options["memory"] = memory
    gpu = (req.gpu if req is not None and req.gpu and req.gpu.number else None) or (
        lim.gpu if lim is not None and lim.gpu and lim.gpu.number else None
    )
    if gpu is not None:
        options["num_gpus"] = gpu.number
        if gpu.type not in _GENERIC_GPU:
            options["accelerator_type"] = gpu.type
    if spec.scheduling_spec is not None and spec.scheduling_spec.node_selector:
        options["label_selector"] = dict(spec.scheduling_spec.node_selector)
    return options


def default_parallelism(spec: PipelineSpec, cluster_cpus: float) -> int:
    """``parallelism_spec.constant``, else as many batches as the cluster's CPUs allow."""
    if spec.parallelism_spec is not None and spec.parallelism_spec.constant:
        return spec.parallelism_spec.constant
    per_task = task_options(spec)["num_cpus"] or 1.0
    return max(1, int(cluster_cpus // per_task))
