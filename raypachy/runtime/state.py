"""Where the local cluster is: a small JSON file in $RAYPACHY_HOME (no ray import here)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from raypachy._private import private_dir

DEFAULT_API_PORT = 8650
DEFAULT_S3_PORT = 8651


def home_dir(home: str | None = None) -> Path:
    return Path(
        os.path.abspath(os.path.expanduser(home or os.environ.get("RAYPACHY_HOME", "~/.raypachy")))
    )


@dataclass(frozen=True, slots=True)
class ClusterState:
    """What ``raypachy up`` started, so that ``down`` stops exactly that."""

    home: str
    storage: str
    api_url: str
    dashboard_url: str
    gcs_address: str
    ray_pid: int | None  # None when the control plane runs on a cluster we did not start
    started: float
    control_pid: int | None = None  # the `raypachy serve` driver that owns the control plane
    metrics_url: str = ""  # Ray's Prometheus export of this node (raypachy_* metrics included)
    s3_url: str = ""  # the S3 gateway beside the API
    images: str = "off"  # how transform.image is used (the control plane's --images)
    # Which processes the pids were (boot and start time), so that a stale file never makes
    # `down` or `up` signal whatever reuses those pids later.
    ray_identity: str = ""
    control_identity: str = ""


def state_path(home: str | None = None) -> Path:
    return home_dir(home) / "cluster.json"


def read_state(home: str | None = None) -> ClusterState | None:
    try:
        data = json.loads(state_path(home).read_text())
        return ClusterState(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_state(state: ClusterState) -> None:
    path = state_path(state.home)
    private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(asdict(state), indent=2))
    os.replace(tmp, path)


def clear_state(home: str | None = None) -> None:
    state_path(home).unlink(missing_ok=True)


def api_port() -> int:
    return int(os.environ.get("RAYPACHY_API_PORT", DEFAULT_API_PORT))


def s3_port() -> int:
    return int(os.environ.get("RAYPACHY_S3_PORT", DEFAULT_S3_PORT))


def local_api_url(home: str | None = None) -> str:
    state = read_state(home)
    return state.api_url if state else f"http://127.0.0.1:{api_port()}"
