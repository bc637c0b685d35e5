"""Projects from the CLI on a real local cluster: a pipeline of one project reads a repo of
another, names are unique per project, --project / RAYPACHY_PROJECT / config set project."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RAYPACHY, LocalCluster
from tests.runtime.cluster_jobs import first_job, unique

pytestmark = pytest.mark.ray


def _json(done: subprocess.CompletedProcess[bytes]) -> Any:
    return json.loads(done.stdout)


def test_a_pipeline_of_one_project_reads_a_repo_of_another(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    run = local_cluster.cli
    raw, staging, repo = unique("raw"), unique("staging"), unique("images")
    run("create", "project", raw, "-d", "landing zone")
    run("create", "project", staging)
    listed = {p["name"]: p for p in _json(run("list", "project", "-o", "json"))}
    assert {"default", raw, staging} <= set(listed)
    assert listed[raw]["description"] == "landing zone" and listed[raw]["created"]
    assert {"name", "description", "created"} <= set(listed["default"])
    run("update", "project", raw, "-d", "the landing zone")
    shown = _json(run("inspect", "project", raw, "-o", "json"))
    assert (shown["name"], shown["description"]) == (raw, "the landing zone")
    # Names are unique per project: raw/images and staging/images are two repos.
    run("create", "repo", repo, "--project", raw, "-d", "raw")
    run("create", "repo", f"{staging}/{repo}", "-d", "staged")
    run("put", "file", f"{raw}/{repo}@master:/a.txt", "-f", "-", stdin=b"from raw")
    run("put", "file", f"{repo}@master:/b.txt", "-f", "-", "--project", staging,
        stdin=b"from staging")  # fmt: skip
    mine = _json(run("list", "repo", "--project", raw, "-o", "json"))
    assert [(r["name"], r["project"], r["description"]) for r in mine] == [
        (f"{raw}/{repo}", raw, "raw")
    ]  # only the project's repos
    header, row = run("list", "repo", "--project", raw).stdout.decode().splitlines()
    assert header.split() == ["PROJECT", "NAME", "CREATED", "SIZE", "DESCRIPTION"]
    assert row.split()[:2] == [raw, repo]  # as pachctl shows them: project, then name
    every = {r["name"] for r in _json(run("list", "repo", "-A", "-o", "json"))}
    assert {f"{raw}/{repo}", f"{staging}/{repo}"} <= every
    # A pipeline of staging reads its own images and raw's: the union of both.
    spec = {"pipeline": {"name": "edges", "project": {"name": staging}},
            "input": {"union": [{"pfs": {"repo": repo, "glob": "/*", "project": raw}},
                                {"pfs": {"repo": repo, "glob": "/*"}}]},
            "transform": {"cmd": ["sh", "-c", f"cp /pfs/{repo}/* /pfs/out/"]}}  # fmt: skip
    path = tmp_path / "edges.json"
    path.write_text(json.dumps(spec))
    run("create", "pipeline", "-f", str(path))
    pipeline = _json(run("inspect", "pipeline", "edges", "--project", staging, "-o", "json"))
    assert (pipeline["name"], pipeline["project"]) == (f"{staging}/edges", staging)
    assert sorted(pipeline["inputs"]) == sorted([f"{raw}/{repo}", f"{staging}/{repo}"])
    head = _json(run("inspect", "commit", f"{staging}/{repo}@master", "-o", "json"))
    assert head["project"] == staging
    job = first_job(local_cluster, f"{staging}/edges")
    assert (job["pipeline"], job["project"], job["state"]) == (
        f"{staging}/edges",
        staging,
        "success",
    ), job["reason"]
    assert sorted(i["repo"] for i in job["inputs"]) == sorted([f"{raw}/{repo}",
                                                               f"{staging}/{repo}"])  # fmt: skip
    # The output repo lives in staging; each datum saw its input at /pfs/<plain repo name>.
    got = [f["path"] for f in _json(run("list", "file", f"{staging}/edges@master:/", "-o",
                                        "json"))]  # fmt: skip
    assert got == ["/a.txt", "/b.txt"]
    assert run("get", "file", "edges@master:/a.txt", "--project", staging).stdout == b"from raw"
    jobs = _json(run("list", "job", "--project", staging, "-o", "json"))
    assert jobs and {j["project"] for j in jobs} == {staging}
    # RAYPACHY_PROJECT, then `config set project` (a client setting) pick the project.
    env = {**local_cluster.env, "RAYPACHY_PROJECT": staging}
    done = subprocess.run([RAYPACHY, "inspect", "repo", repo, "-o", "json"], env=env,
                          capture_output=True, check=True)  # fmt: skip
    assert json.loads(done.stdout)["description"] == "staged"
    settings = {
        **local_cluster.env,
        "RAYPACHY_HOME": str(tmp_path / "client"),
        "RAYPACHY_ADDRESS": local_cluster.api_url,
        "RAYPACHY_TOKEN": local_cluster.token,
    }
    for args in (["config", "set", "project", raw], ["inspect", "repo", repo, "-o", "json"]):
        done = subprocess.run([RAYPACHY, *args], env=settings, capture_output=True, check=True)
    assert json.loads(done.stdout)["description"] == "raw"
    assert json.loads((tmp_path / "client" / "config.json").read_text()) == {"project": raw}
    # A project that still holds repos or pipelines: one line, nothing deleted; --force.
    done = run("delete", "project", staging, code=1)
    message = done.stderr.decode().strip()
    assert "\n" not in message and "still holds 1 pipeline(s) and 2 repo(s)" in message
    assert "--force" in message
    run("inspect", "pipeline", f"{staging}/edges")  # still there
    run("delete", "project", staging, "--force")
    assert staging not in {p["name"] for p in _json(run("list", "project", "-o", "json"))}
    run("inspect", "repo", f"{staging}/{repo}", code=1)
    run("inspect", "repo", f"{raw}/{repo}")  # the other project's repo is untouched
    run("delete", "project", raw, "--force")
    bad = run("create", "repo", "x", "--project", "no such", code=2).stderr.decode()
    assert "invalid project name" in bad
