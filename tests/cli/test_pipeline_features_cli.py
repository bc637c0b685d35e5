"""Datum batching, egress and ``run cron`` as a user drives them: CLI subprocesses against
the shared cluster (batches run as Ray tasks, jobs are run by pipeline controllers)."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray

needs_sandbox = pytest.mark.skipif(
    not (os.geteuid() == 0 and shutil.which("unshare")),
    reason="command transforms need root with unshare (or bwrap) for their private /pfs",
)

# Pids are written per datum: one process per batch serves them all.
LOOP = textwrap.dedent(
    """
    import os, pathlib, raypachy
    while raypachy.next_datum():
        for path in pathlib.Path("/pfs/src").iterdir():
            (pathlib.Path("/pfs/out") / path.name).write_text(f"{path.read_text()} {os.getpid()}")
    """
)


def _wait(run, pipeline: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The first job of ``pipeline`` once it ended (its controller creates it soon)."""
    deadline = time.monotonic() + 120
    while not (jobs := json.loads(run("list", "job", "-p", pipeline, "-o", "json").stdout)):
        assert time.monotonic() < deadline, f"no job of {pipeline}"
        time.sleep(0.5)
    job = jobs[-1]
    done = json.loads(run("wait", "job", f"{pipeline}@{job['id']}", "-o", "json").stdout)
    return json.loads(run("inspect", "job", f"{pipeline}@{done['id']}", "-o", "json").stdout)  # type: ignore[no-any-return]


@needs_sandbox
def test_batched_command_with_file_egress(local_cluster: LocalCluster, tmp_path: Path) -> None:
    run = local_cluster.cli
    name = "b" + uuid.uuid4().hex[:8]
    script, dest = tmp_path / "loop.py", tmp_path / "mirror"
    script.write_text(LOOP)
    run("create", "repo", f"{name}src")
    for i in range(6):
        run("put", "file", f"{name}src@master:/f{i}", "-f", "-", stdin=f"v{i}".encode())
    spec = {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": f"{name}src", "glob": "/*", "name": "src"}},
        "transform": {"cmd": ["python3", str(script)], "datum_batching": True},
        "parallelism_spec": {"constant": 1},
        "egress": {"URL": f"file://{dest}"},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    run("create", "pipeline", "-f", str(tmp_path / "spec.json"))
    job = _wait(run, name)
    assert job["state"] == "success", job
    assert job["egress"]["state"] == "success" and job["egress"]["written"] == 6
    mirrored = {p.name: p.read_text().split() for p in dest.iterdir()}
    assert {k: v[0] for k, v in mirrored.items()} == {f"f{i}": f"v{i}" for i in range(6)}
    assert len({v[1] for v in mirrored.values()}) == 1  # one process served six datums
    run("delete", "pipeline", name)


@needs_sandbox
def test_run_cron_ticks_now(local_cluster: LocalCluster, tmp_path: Path) -> None:
    run = local_cluster.cli
    name = "c" + uuid.uuid4().hex[:8]
    spec = {
        "pipeline": {"name": name},
        "input": {"cron": {"name": "tick", "spec": "@every 1h", "overwrite": True}},
        "transform": {"cmd": ["true"]},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    run("create", "pipeline", "-f", str(tmp_path / "spec.json"))
    tick = run("run", "cron", name).stdout.decode().strip()
    assert tick.startswith(f"{name}_tick@")
    run("wait", "commit", tick.split("@")[1])
    files = json.loads(run("list", "file", f"{name}_tick@master", "-o", "json").stdout)
    assert len(files) == 1
    bad = run("run", "cron", "no-such-pipeline", code=1)
    assert b"pipeline no-such-pipeline not found" in bad.stderr
    run("delete", "pipeline", name)
