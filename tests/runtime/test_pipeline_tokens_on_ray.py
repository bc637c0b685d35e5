"""Once auth is active, what a pipeline runs on the cluster acts as the pipeline: a job's
datums and a spout's process each hold a token of ``pipeline:<name>`` that writes the
pipeline's output and nothing else (never the cluster's token). On a cluster of its own,
since activating auth is for good."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RAYPACHY, LocalCluster, start_cluster

pytestmark = pytest.mark.ray

DENIED = "lacks repoWriter on repo other"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = start_cluster(tmp_path / "home")
    try:
        cluster.cli("auth", "activate")  # the cluster's own token stays root: the CLI goes on
        yield cluster
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)


def _try_other_then_own(own: str) -> str:
    """A shell line: write repo ``other`` (to be refused), then the outcome into ``own``."""
    return (
        f"{RAYPACHY} put file other@master:/planted -f /etc/hostname 2> /tmp/err$$; "
        f'echo "exit=$? $(cat /tmp/err$$)" > {own}'
    )


def test_datums_and_spouts_act_as_their_pipeline(secured: LocalCluster, tmp_path: Path) -> None:
    c = secured
    for repo in ("other", "src"):
        c.cli("create", "repo", repo)
    copy = f"{_try_other_then_own('/pfs/out/outcome')}; cp /pfs/src/a /pfs/out/a"
    copier = {
        "pipeline": {"name": "copier"},
        "input": {"pfs": {"repo": "src", "glob": "/*"}},
        "transform": {"cmd": ["sh", "-c", copy]},
    }
    feed = (
        f"{_try_other_then_own('/tmp/outcome$$')}; "
        f"{RAYPACHY} put file feeder@master:/outcome -f /tmp/outcome$$; sleep 600"
    )
    feeder = {"pipeline": {"name": "feeder"}, "spout": {}, "transform": {"cmd": ["sh", "-c", feed]}}
    for spec in (copier, feeder):
        path = tmp_path / f"{spec['pipeline']['name']}.json"  # type: ignore[index]
        path.write_text(json.dumps(spec))
        c.cli("create", "pipeline", "-f", str(path))
    c.cli("put", "file", "src@master:/a", "-f", "-", stdin=b"alpha")

    commit = json.loads(c.cli("inspect", "commit", "src@master", "-o", "json").stdout)["id"]
    c.cli("wait", "commit", commit, "-o", "json", timeout=300)
    [job] = json.loads(c.cli("list", "job", commit, "-o", "json").stdout)
    assert job["state"] == "success", job["reason"]
    outcome = c.cli("get", "file", "copier@master:/outcome").stdout.decode()
    assert outcome.startswith("exit=1 ") and f"pipeline:copier {DENIED}" in outcome, outcome
    assert c.cli("get", "file", "copier@master:/a").stdout == b"alpha"

    deadline = time.monotonic() + 180
    get = [RAYPACHY, "get", "file", "feeder@master:/outcome"]
    while (got := subprocess.run(get, env=c.env, capture_output=True)).returncode:
        assert time.monotonic() < deadline, c.cli("logs", "-p", "feeder").stdout[-2000:]
        time.sleep(1)
    outcome = got.stdout.decode()
    assert outcome.startswith("exit=1 ") and f"pipeline:feeder {DENIED}" in outcome, outcome
    assert json.loads(c.cli("list", "commit", "other", "-o", "json").stdout) == []
    c.cli("delete", "pipeline", "feeder")
