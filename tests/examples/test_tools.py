"""The "reading and writing from other tools" examples run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from raypachy.client import Client
from raypachy.runtime.state import read_state
from tests.conftest import LocalCluster
from tests.fs.conftest import Api, api_server  # noqa: F401  (a real API without Ray)

TOOLS = Path(__file__).parents[2] / "examples" / "tools"


def _run(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(TOOLS / script), *args], capture_output=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.stdout.decode()


def test_pandas_and_duckdb_example(api_server: Api) -> None:  # noqa: F811
    import os

    repo = f"iris{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "RAYPACHY_ADDRESS": api_server.url}
    out = _run("read_with_pandas_duckdb.py", env, "--repo", repo)
    assert "150 flowers in" in out
    assert "('setosa', 50, 1.46)" in out  # DuckDB's SQL over the three parts
    assert "rows at the first commit: 50" in out
    with Client(api_server.url) as client:
        assert [c.description for c in client.list_commits(repo, "master")].count("") == 4
        assert client.inspect_file(f"{repo}@master", "/summary/means.parquet").size_bytes > 0


@pytest.mark.ray
def test_ray_data_example(local_cluster: LocalCluster) -> None:
    state = read_state(str(local_cluster.home))
    assert state is not None
    source, out = f"readings{uuid.uuid4().hex[:6]}", f"features{uuid.uuid4().hex[:6]}"
    env = {**local_cluster.env, "RAY_ADDRESS": state.gcs_address,
           "RAYPACHY_ADDRESS": local_cluster.api_url}  # fmt: skip
    stdout = _run("ray_data_example.py", env, "--source", source, "--out", out)
    client = local_cluster.client()
    head = client.inspect_commit(f"{out}@master")
    source_head = client.inspect_commit(f"{source}@master")
    assert [str(p) for p in head.provenance] == [f"{source}@{source_head.id}"]
    assert len(client.list_commits(out, "master")) == 2
    assert {f.path for f in client.list_files(f"{out}@master", "/")} == {"/digests/", "/scaled/"}
    assert f"wrote /scaled in commit {head.id}" in stdout


@pytest.mark.ray
def test_ray_data_pipeline_example(local_cluster: LocalCluster) -> None:
    repo, name = f"notes{uuid.uuid4().hex[:6]}", f"wordcount{uuid.uuid4().hex[:6]}"
    env = {**local_cluster.env, "RAYPACHY_ADDRESS": local_cluster.api_url}
    out = _run("ray_data_pipeline.py", env, "--repo", repo, "--name", name).splitlines()
    jobs = [line.split(": ", 1)[1] for line in out if line.startswith("job ")]
    assert jobs == [
        "success, 2 processed, 0 skipped",
        "success, 1 processed, 2 skipped",
        "success, 0 processed, 2 skipped",
    ]
    assert '  /wednesday.json {"and": 1, "cat": 1, "hat": 1}' in out
    client = local_cluster.client()
    assert {f.path for f in client.list_files(f"{name}@master", "/")} == {
        "/tuesday.json", "/wednesday.json"
    }  # fmt: skip
    client.delete_pipeline(name)
