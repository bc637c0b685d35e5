"""Transactions on the real local cluster, through the CLI as pachctl users drive them: two
commits started in one transaction on the inputs of a cross pipeline make exactly one job,
which sees both, once both are finished."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import LocalCluster
from tests.runtime.cluster_jobs import unique

pytestmark = pytest.mark.ray


def test_two_commits_of_one_transaction_make_one_cross_job(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    # the active transaction lives in the client config: this test's own, not the home's
    c = replace(local_cluster, env={**local_cluster.env,
                                    "RAYPACHY_CONFIG": str(tmp_path / "config.json")})  # fmt: skip
    a, b, cross = unique("a"), unique("b"), unique("cross")
    for repo, name in ((a, "x"), (b, "y")):
        c.cli("create", "repo", repo)
        c.cli("put", "file", f"{repo}@master:/{name}1", "-f", "-", stdin=name.encode())
    spec = {
        "pipeline": {"name": cross},
        "input": {"cross": [{"pfs": {"repo": a, "glob": "/*"}}, {"pfs": {"repo": b, "glob": "/*"}}]},
        "transform": {"cmd": ["sh", "-c",
                              f'cat /pfs/{a}/* /pfs/{b}/* > "/pfs/out/$(ls /pfs/{a})-$(ls /pfs/{b})"']},
    }  # fmt: skip
    (tmp_path / "cross.json").write_text(json.dumps(spec))
    c.cli("create", "pipeline", "-f", str(tmp_path / "cross.json"))
    first = json.loads(c.cli("inspect", "commit", f"{a}@master", "-o", "json").stdout)["id"]
    c.cli("wait", "commit", first, timeout=300)

    txn = c.cli("start", "transaction").stdout.decode().strip()
    assert len(txn) == 32
    started = c.cli("start", "commit", f"{a}@master")
    assert started.stdout.decode().strip() == txn  # the id is known before the finish
    assert f"added to transaction {txn}" in started.stderr.decode()
    assert c.cli("start", "commit", f"{b}@master").stdout.decode().strip() == txn
    listed = json.loads(c.cli("list", "transaction", "-o", "json").stdout)
    [mine] = [t for t in listed if t["id"] == txn]
    assert [op["verb"] for op in mine["ops"]] == ["start_commit", "start_commit"]
    c.cli("inspect", "commit", f"{a}@{txn}", code=1)  # recorded, not applied yet
    c.cli("finish", "transaction")
    assert txn not in c.cli("list", "transaction").stdout.decode()

    c.cli("put", "file", f"{a}@{txn}:/x2", "-f", "-", stdin=b"X")
    c.cli("put", "file", f"{b}@{txn}:/y2", "-f", "-", stdin=b"Y")
    c.cli("finish", "commit", f"{a}@{txn}")
    c.cli("finish", "commit", f"{b}@{txn}")
    c.cli("wait", "commit", txn, timeout=300)
    jobs = json.loads(c.cli("list", "job", "-p", cross, "-o", "json").stdout)
    assert len(jobs) == 2  # the first job, and exactly one for both commits
    job = jobs[0]
    assert (job["id"], job["state"], job["datums"]["total"]) == (txn, "success", 4)
    assert c.cli("get", "file", f"{cross}@master:/x2-y2").stdout == b"XY"
    assert c.cli("get", "file", f"{cross}@master:/x1-y1").stdout == b"xy"


def test_a_failing_transaction_changes_nothing_and_says_why_in_one_line(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = replace(local_cluster, env={**local_cluster.env,
                                    "RAYPACHY_CONFIG": str(tmp_path / "config.json")})  # fmt: skip
    repo = unique("t")
    c.cli("create", "repo", repo)
    c.cli("put", "file", f"{repo}@master:/f", "-f", "-", stdin=b"1")
    head = json.loads(c.cli("inspect", "commit", f"{repo}@master", "-o", "json").stdout)["id"]
    txn = c.cli("start", "transaction").stdout.decode().strip()
    c.cli("create", "branch", f"{repo}@v1", "--head", "master")
    c.cli("start", "commit", f"{repo}@master")
    c.cli("delete", "branch", f"{repo}@nothere")  # recorded; fails when applied
    failed = c.cli("finish", "transaction", code=1).stderr.decode()
    assert failed.count("\n") == 1 and "nothing of the transaction was applied" in failed
    assert f"operation 3 (delete branch {repo}@nothere)" in failed
    branches = json.loads(c.cli("list", "branch", repo, "-o", "json").stdout)
    assert [b["name"] for b in branches] == ["master"] and branches[0]["head"] == head
    c.cli("delete", "transaction")
    assert "no active transaction" in c.cli("finish", "transaction", code=1).stderr.decode()
    gone = c.cli("finish", "transaction", txn, code=1).stderr.decode()
    assert f"transaction {txn} not found" in gone

    # stop and resume: while stopped, commands apply at once; resumed, they are recorded
    txn = c.cli("start", "transaction").stdout.decode().strip()
    c.cli("stop", "transaction")
    c.cli("create", "branch", f"{repo}@now", "--head", "master")
    c.cli("resume", "transaction", txn)
    spec = {"pipeline": {"name": repo + "-out"}, "input": {"pfs": {"repo": repo, "glob": "/"}},
            "transform": {"cmd": ["sh", "-c", f"cp /pfs/{repo}/f /pfs/out/g"]}}  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(spec))
    assert (
        "added to transaction"
        in c.cli("create", "pipeline", "-f", str(tmp_path / "p.json")).stderr.decode()
    )
    shown = c.cli("inspect", "transaction").stdout.decode()
    assert f"1. create pipeline {repo}-out" in shown
    assert repo + "-out" not in c.cli("list", "pipeline").stdout.decode()
    c.cli("finish", "transaction")
    # the pipeline made by the transaction gets its controller and runs
    job = json.loads(c.cli("list", "job", "-p", repo + "-out", "-o", "json").stdout)[0]
    c.cli("wait", "job", f"{repo}-out@{job['id']}", timeout=300)
    assert c.cli("get", "file", f"{repo}-out@master:/g").stdout == b"1"
    branches = json.loads(c.cli("list", "branch", repo, "-o", "json").stdout)
    assert sorted(b["name"] for b in branches) == ["master", "now"]
