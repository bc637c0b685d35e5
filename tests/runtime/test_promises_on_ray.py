"""Promises kept on the real local cluster: cron ticks, restarting a running datum, the
library refusing a served home, and the CLI verbs around them."""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _json(done: Any) -> Any:
    return json.loads(done.stdout)


def _until(what: str, check: Any, seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds}s")


def test_cron_every_2s_ticks_into_jobs(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    name = _name("cron")
    spec = {
        "pipeline": {"name": name},
        "input": {"cron": {"name": "tick", "spec": "@every 2s", "overwrite": True}},
        "transform": {"cmd": ["sh"], "stdin": ["ls /pfs/tick > /pfs/out/latest"]},
    }
    (tmp_path / "cron.json").write_text(json.dumps(spec))
    created = c.cli("create", "pipeline", "-f", str(tmp_path / "cron.json"))
    # a command pipeline without an image: the CLI says what its version does not cover
    assert f"warning: pipeline {name}: transform.cmd: the version covers the spec only" in (
        created.stderr.decode()
    )

    def two_done() -> list[Any]:
        jobs = _json(c.cli("list", "job", "-p", name, "-o", "json"))
        return [j for j in jobs if j["state"] == "success"][1:]

    _until("two cron jobs", two_done, 240)
    ticks = _json(c.cli("list", "commit", f"{name}_tick@master", "-o", "json"))
    assert len(ticks) >= 2 and all(t["description"].startswith("cron tick ") for t in ticks)
    latest = c.cli("get", "file", f"{name}@master:/latest").stdout.decode().strip()
    assert latest.endswith("Z") and latest[:4].isdigit()  # the tick's file: an RFC 3339 time
    c.cli("stop", "pipeline", name)  # a stopped pipeline ticks no more
    time.sleep(1.0)
    count = len(_json(c.cli("list", "commit", f"{name}_tick@master", "-o", "json")))
    time.sleep(5.0)
    assert len(_json(c.cli("list", "commit", f"{name}_tick@master", "-o", "json"))) == count
    c.cli("delete", "pipeline", name)


def test_restart_datum_restarts_it_within_its_running_job(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    src, name = _name("src"), _name("stuck")
    marker = tmp_path / "started-once"
    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/slow", "-f", "-", stdin=b"s")
    (tmp_path / "stuck.py").write_text(
        textwrap.dedent(f"""
        import pathlib, time
        import raypachy

        @raypachy.pipeline(input=raypachy.pfs("{src}", glob="/*"), name="{name}")
        def stuck(datum):
            marker = pathlib.Path("{marker}")
            if not marker.exists():  # the first run hangs, as a stuck datum does
                marker.write_text("x")
                time.sleep(900)
            (datum.out / "done").write_text("ok")
    """)
    )
    c.cli("create", "pipeline", "--python", str(tmp_path / "stuck.py"))
    [job] = _json(c.cli("list", "job", "-p", name, "-o", "json"))
    _until("the datum to start", marker.exists)
    said = c.cli("restart", "datum", f"{name}@{job['id']}", "/slow").stderr.decode()
    assert f"restarting datum /slow within job {name}@{job['id']}" in said
    done = _json(c.cli("wait", "job", f"{name}@{job['id']}", "-o", "json", timeout=300))
    assert done["state"] == "success" and done["datums"]["processed"] == 1
    assert len(_json(c.cli("list", "job", "-p", name, "-o", "json"))) == 1  # the same job
    assert c.cli("get", "file", f"{name}@master:/done").stdout == b"ok"
    # the job has ended: list datum and logs find it by its id alone
    [datum] = _json(c.cli("list", "datum", job["id"], "-o", "json"))
    assert datum["pipeline"] == name and datum["state"] == "success"
    c.cli("logs", "--job", job["id"])
    assert b"give -p PIPELINE, --job ID" in c.cli("logs", code=2).stderr
    # repos in use: refused, naming the pipeline; --force says what breaks
    refused = c.cli("delete", "repo", src, code=1).stderr.decode()
    assert f"pipeline {name} reads it" in refused and "--force" in refused
    refused = c.cli("delete", "repo", name, code=1).stderr.decode()
    assert f"pipeline {name} writes it" in refused
    # list commit takes no path
    assert b"takes no path" in c.cli("list", "commit", f"{src}@master:/slow", code=1).stderr
    c.cli("delete", "pipeline", name)
    c.cli("delete", "repo", src)


def test_the_library_refuses_to_write_to_a_served_home(local_cluster: LocalCluster) -> None:
    from raypachy.errors import ConflictError
    from raypachy.pfs import PFS

    c = local_cluster
    repo = _name("lib")
    c.cli("create", "repo", repo)
    pfs = PFS.open(str(c.home))
    assert repo in {r.name for r in pfs.list_repos()}  # reads work
    with pytest.raises(ConflictError, match=r"served by a running raypachy cluster.*connect"):
        pfs.put_file(f"{repo}@master", "/x", b"x")
    with pytest.raises(ConflictError, match="served by a running raypachy cluster"):
        pfs.create_repo(_name("lib"))
    assert c.cli("list", "file", f"{repo}@master:/", code=1).returncode == 1  # nothing written
    c.cli("delete", "repo", repo)
