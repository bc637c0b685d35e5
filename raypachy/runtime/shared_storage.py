"""Does every node of the Ray cluster see the same ``file://`` storage?

Datum tasks write their chunks straight to the storage from whichever node runs them. With a
local path that only the head has, a worker on another node would write to its own disk,
and the commit would point at chunks the head cannot read. ``serve`` refuses such a cluster;
a path on a filesystem every node mounts (NFS, or several nodes of one machine) is fine.
"""

from __future__ import annotations

import os
import secrets
from typing import Any
from urllib.parse import urlparse

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raypachy.errors import InvalidArgumentError

PROBE_TIMEOUT_S = 120.0


@ray.remote(num_cpus=0, max_retries=0)
def _read_probe(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def check_storage_shared(storage: str) -> None:
    """Refuse ``file://`` storage that some live node of the cluster does not see.

    A probe file with a random token is written into the storage directory here (the
    head), and a task pinned to each other node reads it back.
    """
    parsed = urlparse(storage)
    if parsed.scheme != "file":
        return
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    here = ray.get_runtime_context().get_node_id()
    others = [n for n in nodes if n["NodeID"] != here]
    if not others:
        return
    root = parsed.netloc + parsed.path
    os.makedirs(root, exist_ok=True)
    token = secrets.token_hex(16)
    probe = os.path.join(root, f".node-probe-{token}")
    with open(probe, "w") as f:
        f.write(token)
    try:
        refs = {
            _read_probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(probe): n
            for n in others
        }
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
        blind = [f"{_describe(n)} (no answer in {PROBE_TIMEOUT_S:g}s)"
                 for ref, n in refs.items() if ref not in ready]  # fmt: skip
        blind += [_describe(refs[ref]) for ref in ready if ray.get(ref) != token]
    finally:
        os.unlink(probe)
    if blind:
        raise InvalidArgumentError(
            f"storage {storage} is a local path that not every node of this Ray cluster "
            f"sees ({len(nodes)} nodes; not seen from {', '.join(sorted(blind))}): datums on "
            "those nodes would write their data to their own disks. Use s3://bucket/prefix, "
            "or a filesystem mounted at the same path on every node"
        )


def _describe(node: dict[str, Any]) -> str:
    return f"node {node['NodeID'][:12]} at {node.get('NodeManagerAddress', '?')}"
