"""Pipelines over time from the CLI: earlier versions, editing a spec in an editor, reruns."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import RAYPACHY, LocalCluster

pytestmark = pytest.mark.ray

EDITOR = """import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["description"] = "edited"
json.dump(spec, open(path, "w"))
"""


def test_versions_edit_and_rerun(local_cluster: LocalCluster, tmp_path: Path) -> None:
    run = local_cluster.cli
    name = "t" + uuid.uuid4().hex[:10]
    run("create", "repo", name)
    run("put", "file", f"{name}@master:/a", "-f", "-", stdin=b"a")
    spec = {"pipeline": {"name": f"{name}-p"}, "input": {"pfs": {"repo": name, "glob": "/*"}},
            "transform": {"cmd": ["true"]}, "description": "first"}  # fmt: skip
    path = tmp_path / "p.json"
    path.write_text(json.dumps(spec))
    run("create", "pipeline", "-f", str(path))
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    run("edit", "pipeline", f"{name}-p", "--editor", f"{sys.executable} {editor}")
    current = json.loads(run("inspect", "pipeline", f"{name}-p", "-o", "json").stdout)
    older = json.loads(run("inspect", "pipeline", f"{name}-p^1", "-o", "json").stdout)
    assert (current["description"], older["description"]) == ("edited", "first")
    # $EDITOR is what pachctl users set; an unchanged spec changes nothing
    done = subprocess.run([RAYPACHY, "edit", "pipeline", f"{name}-p"], capture_output=True,
                          env={**local_cluster.env, "EDITOR": "true"})  # fmt: skip
    assert done.returncode == 0 and b"unchanged" in done.stderr
    versions = json.loads(run("list", "pipeline", f"{name}-p", "--history", "all", "-o",
                              "json").stdout)  # fmt: skip
    assert [(v["spec"]["description"], v["current"]) for v in versions] == [
        ("edited", True), ("first", False)
    ]  # fmt: skip
    latest = json.loads(run("list", "pipeline", f"{name}-p", "--history", "0", "-o",
                            "json").stdout)  # fmt: skip
    assert [v["current"] for v in latest] == [True]
    job = run("rerun", "pipeline", f"{name}-p", "--reprocess").stdout.decode().strip()
    jobs = json.loads(run("list", "job", "-p", f"{name}-p", "-o", "json").stdout)
    assert f"{jobs[0]['pipeline']}@{jobs[0]['id']}" == job
    assert {j["version"] for j in jobs} == {current["version"], older["version"]}
    mine = json.loads(run("list", "job", "-p", f"{name}-p", "--history", "0", "-o",
                          "json").stdout)  # fmt: skip
    assert mine and {j["version"] for j in mine} == {current["version"]}
    every = run("list", "job", "-p", f"{name}-p", "--history", "all", "-o", "json").stdout
    assert len(json.loads(every)) == len(jobs)
    err = run("inspect", "pipeline", f"{name}-p^5", code=1).stderr
    assert b"1 earlier version" in err and err.count(b"\n") == 1
    bad = tmp_path / "rename.py"
    bad.write_text(EDITOR.replace('spec["description"] = "edited"',
                                  'spec["pipeline"]["name"] = "other"'))  # fmt: skip
    err = run("edit", "pipeline", f"{name}-p", "--editor", f"{sys.executable} {bad}",
              code=1).stderr  # fmt: skip
    assert b"must be one pipeline named" in err
    assert json.loads(run("inspect", "pipeline", f"{name}-p", "-o", "json").stdout)[
        "version"] == current["version"]  # fmt: skip
    run("delete", "pipeline", f"{name}-p")


def test_cluster_defaults_from_the_cli(local_cluster: LocalCluster, tmp_path: Path) -> None:
    run = local_cluster.cli
    name = "t" + uuid.uuid4().hex[:10]
    run("create", "repo", name)
    defaults = tmp_path / "defaults.json"
    defaults.write_text(json.dumps({"create_pipeline_request": {"datum_tries": 6}}))
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"pipeline": {"name": f"{name}-p"}, "input": {"pfs": {
        "repo": name}}, "transform": {"cmd": ["true"]}}))  # fmt: skip
    try:  # the cluster is shared: its defaults are put back whatever happens
        run("update", "defaults", "--cluster", "-f", str(defaults))
        shown = json.loads(run("inspect", "defaults", "--cluster").stdout)
        assert shown == {"create_pipeline_request": {"datum_tries": 6}}
        run("create", "pipeline", "-f", str(spec))
        created = json.loads(run("inspect", "pipeline", f"{name}-p", "-o", "json").stdout)
        assert created["spec"]["datum_tries"] == 6
        defaults.write_text('{"create_pipeline_request": {"datum_tries": "many"}}')
        err = run("update", "defaults", "-f", str(defaults), code=1).stderr
        assert b"invalid defaults" in err and err.count(b"\n") == 1
        assert json.loads(run("inspect", "defaults").stdout) == shown
    finally:
        defaults.write_text('{"create_pipeline_request": {}}')
        run("update", "defaults", "-f", str(defaults))
    run("delete", "pipeline", f"{name}-p")
