"""A lazy input on the real local cluster: the command in a Ray task reads a named pipe,
closes it early (``head -c``), and the task goes on (no SIGPIPE, no writer left blocked)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import LocalCluster
from tests.runtime.cluster_jobs import first_job, unique

pytestmark = pytest.mark.ray


def test_a_lazy_command_pipeline_on_ray(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    src, pipe = unique("big"), unique("lazy")
    c.cli("create", "repo", src)
    data = os.urandom(6 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    c.cli("put", "file", f"{src}@master:/big.bin", "-f", str(tmp_path / "big.bin"))
    c.cli("put", "file", f"{src}@master:/unread.bin", "-f", str(tmp_path / "big.bin"))
    spec = {
        "pipeline": {"name": pipe},
        "input": {"pfs": {"repo": src, "glob": "/", "lazy": True}},
        "transform": {"cmd": ["sh", "-c", f"head -c 1000 /pfs/{src}/big.bin > /pfs/out/head"]},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    c.cli("create", "pipeline", "-f", str(tmp_path / "spec.json"))
    job = first_job(c, pipe)
    assert job["state"] == "success", job
    assert c.client().get_file(f"{pipe}@master", "/head") == data[:1000]
    c.cli("delete", "pipeline", pipe)
