"""Can any node run this pipeline's tasks? Ray never says: infeasible tasks just wait.

A pipeline's demand (CPUs, GPUs, memory, accelerator type, node labels) is compared with
every live node and with every node type the cluster can still add (the autoscaler's
cluster config, or ``RAYPACHY_NODE_TYPES``: a JSON list of ``{"name", "resources",
"labels"}``). When nothing fits, the job says why ("no node offers 4 GPUs of type A100")
instead of hanging silently, and ``inspect pipeline`` lists what can serve it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import ray

from raypachy.pps.podgroup import GROUP_LABEL

ACCELERATOR_PREFIX = "accelerator_type:"


@dataclass(frozen=True, slots=True)
class NodeKind:
    name: str
    resources: dict[str, float]
    labels: dict[str, str]
    source: str  # "node" (running now) or "node type" (the autoscaler can add it)


def _node_types_from_env() -> list[NodeKind]:
    raw = os.environ.get("RAYPACHY_NODE_TYPES")
    if not raw:
        return []
    kinds = []
    for item in json.loads(raw):
        resources = {k: float(v) for k, v in item.get("resources", {}).items()}
        kinds.append(NodeKind(item["name"], resources, dict(item.get("labels", {})), "node type"))
    return kinds


def _node_types_from_autoscaler() -> list[NodeKind]:
    try:
        from ray._private.state import state

        config = state.get_cluster_config()
    except Exception:  # no autoscaler, or a Ray without this call: only live nodes count
        return []
    if config is None:
        return []
    kinds = []
    for group in config.node_group_configs:
        if group.max_count == 0:
            continue
        resources = {k: float(v) for k, v in dict(group.resources).items()}
        labels = dict(getattr(group, "labels", {}) or {})
        kinds.append(NodeKind(group.name, resources, labels, "node type"))
    return kinds


def node_kinds() -> list[NodeKind]:
    """Live nodes, then node types the cluster may add."""
    kinds = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = {k: float(v) for k, v in node.get("Resources", {}).items()}
        name = node.get("NodeName") or node.get("NodeManagerAddress", "node")
        labels = dict(node.get("Labels") or {})
        kinds.append(NodeKind(f"{name} ({node['NodeID'][:8]})", resources, labels, "node"))
    return kinds + _node_types_from_autoscaler() + _node_types_from_env()


def demand(options: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Ray task options -> (resources, label selector)."""
    resources = {"CPU": float(options.get("num_cpus", 1.0))}
    if options.get("num_gpus"):
        resources["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        resources["memory"] = float(options["memory"])
    if options.get("accelerator_type"):
        resources[ACCELERATOR_PREFIX + options["accelerator_type"]] = 0.001
    return resources, dict(options.get("label_selector") or {})


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    for key, wanted in selector.items():
        have = labels.get(key)
        if wanted.startswith("!"):
            if have == wanted[1:]:
                return False
        elif wanted.startswith("in(") and wanted.endswith(")"):
            if have not in {v.strip() for v in wanted[3:-1].split(",")}:
                return False
        elif have != wanted:
            return False
    return True


def fits(kind: NodeKind, resources: dict[str, float], selector: dict[str, str]) -> bool:
    if not _labels_match(selector, kind.labels):
        return False
    return all(kind.resources.get(k, 0.0) >= v for k, v in resources.items())


def _describe(resources: dict[str, float], selector: dict[str, str]) -> str:
    parts = []
    gpus = resources.get("GPU")
    accelerator = next(
        (k[len(ACCELERATOR_PREFIX) :] for k in resources if k.startswith(ACCELERATOR_PREFIX)), None
    )
    if gpus:
        kind = f" of type {accelerator}" if accelerator else ""
        parts.append(f"{gpus:g} GPU{'s' if gpus != 1 else ''}{kind}")
    elif accelerator:
        parts.append(f"accelerator type {accelerator}")
    parts.append(f"{resources['CPU']:g} CPU{'s' if resources['CPU'] != 1 else ''}")
    if resources.get("memory"):
        parts.append(f"{resources['memory'] / 2**30:.1f} GiB of memory")
    if selector:
        parts.append("labels " + ", ".join(f"{k}={v}" for k, v in selector.items()))
    return " with ".join(parts[:1]) + (" and " + ", ".join(parts[1:]) if len(parts) > 1 else "")


def check(options: dict[str, Any]) -> tuple[list[str], str]:
    """(what can serve these task options, why nothing can: "" when something can)."""
    resources, selector = demand(options)
    kinds = node_kinds()
    serving = [f"{k.source} {k.name}" for k in kinds if fits(k, resources, selector)]
    if serving:
        return serving, ""
    why = f"no node or node type offers {_describe(resources, selector)}"
    if GROUP_LABEL in selector:  # the pipeline's pod fields act on its own worker group
        why += (" (its tolerations, metadata or priority class need the worker group "
                "`raypachy deploy kuberay --pipeline-group SPEC` renders for it)")  # fmt: skip
    return [], why
