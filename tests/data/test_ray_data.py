"""raypachy.data on the real local cluster: each scenario runs in a Ray Data driver process
attached to the session's cluster (see ray_data_driver.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from raypachy.runtime.state import read_state
from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray

DRIVER = Path(__file__).with_name("ray_data_driver.py")


def _drive(cluster: LocalCluster, *args: str, **env: str) -> dict:  # type: ignore[type-arg]
    state = read_state(str(cluster.home))
    assert state is not None
    run_env = {**cluster.env, "RAY_ADDRESS": state.gcs_address,
               "RAYPACHY_ADDRESS": cluster.api_url, **env}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(DRIVER), *args], capture_output=True, env=run_env, timeout=300,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result: dict = json.loads(done.stdout.decode().strip().splitlines()[-1])  # type: ignore[type-arg]
    return result


@pytest.fixture(scope="module")
def source_repo(local_cluster: LocalCluster) -> str:
    name = f"src{uuid.uuid4().hex[:8]}"
    local_cluster.cli("create", "repo", name)
    _drive(local_cluster, "setup", name)
    return name


@pytest.mark.parametrize("worker_plane", ["direct", "api"])
def test_read_files_and_formats(
    local_cluster: LocalCluster, source_repo: str, worker_plane: str
) -> None:
    r = _drive(local_cluster, "read", source_repo, WORKER_DATA_PLANE=worker_plane)
    assert r["paths"] == r["expected"] and r["late"] not in r["paths"]  # one commit
    assert {f"/blobs/{i:03d}.bin" for i in range(20)} <= set(r["paths"])
    assert r["bytes_ok"]
    assert r["commits"] == [f"{source_repo}@{r['first']}"]
    assert r["estimate"] == sum(1000 + i * 50_000 for i in range(20))
    assert len(r["task_rows"]) == 4 and sum(r["task_rows"]) == 20
    assert r["parquet_sum"] == sum(range(100)) * 2
    assert r["parquet_years"] == ["2023", "2024"]  # hive partitions, as Ray reads them
    assert r["csv_rows"] == [[1, "one"], [2, "two"], [3, "three"]]
    assert r["image_shapes"] == [[3, 4, 3], [3, 4, 3]]
    assert len(r["provenance"]) == 2 and f"{source_repo}@{r['first']}" in r["provenance"]


def test_datasink_writes_one_commit_with_provenance(
    local_cluster: LocalCluster, source_repo: str
) -> None:
    out = f"out{uuid.uuid4().hex[:8]}"
    local_cluster.cli("create", "repo", out)
    src_head = json.loads(
        local_cluster.cli("inspect", "commit", f"{source_repo}@master", "-o", "json").stdout
    )["id"]
    r = _drive(local_cluster, "write", source_repo, out)
    # one for the Parquet write, one for the CSV overwrite, none for the empty write
    assert r["new_commits"] == 2 and r["empty_commit"] is None
    assert r["files"] == 3 and r["rows"] == 100
    assert r["w_sum"] == sum(v * 2 + 1 for v in range(100))
    assert r["provenance"] == [f"{source_repo}@{src_head}"]
    assert r["sink_commit"] is not None
    # overwrite: the directory holds only the CSV write's files now
    assert r["after_overwrite"] and all(p.endswith(".csv") for p in r["after_overwrite"])


def test_a_failed_write_leaves_nothing_visible(
    local_cluster: LocalCluster, source_repo: str
) -> None:
    out = f"out{uuid.uuid4().hex[:8]}"
    local_cluster.cli("create", "repo", out)
    local_cluster.cli("put", "file", f"{out}@master:/keep.txt", "-f", "-", stdin=b"keep")
    r = _drive(local_cluster, "failed_write", source_repo, out)
    assert "bad row" in r["error"]
    assert r["head_unchanged"] and not r["broken_visible"]
    assert r["gc_ok"]
    assert "write to a branch" in r["refused"][0]
    assert "unknown format 'xml'" in r["refused"][1]
    assert "no file matches /nothing/*" in r["refused"][2]
