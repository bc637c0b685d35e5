"""Spouts and services on the real local cluster, driven through the CLI and the client.

A spout's command commits with ``raypachy put file`` from inside its sandbox; its pid is the
one its process log announces (``... started: pid N``), so the tests check by pid that
stopping the pipeline ends it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from raypachy._procs import pid_alive
from tests.conftest import RAYPACHY, LocalCluster, free_port
from tests.runtime.cluster_jobs import unique

pytestmark = pytest.mark.ray


def _until(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _log(c: LocalCluster, pipeline: str) -> str:
    return c.cli("logs", "-p", pipeline).stdout.decode()


def _pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"started: pid (\d+)", log)]


def _commits(c: LocalCluster, repo: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        c.cli("list", "commit", repo, "-o", "json").stdout or b"[]"
    )
    return found


def _create(c: LocalCluster, tmp_path: Path, spec: dict[str, Any]) -> None:
    path = tmp_path / f"{spec['pipeline']['name']}.json"
    path.write_text(json.dumps(spec))
    c.cli("create", "pipeline", "-f", str(path))


def _spout_spec(name: str, script: str) -> dict[str, Any]:
    return {"pipeline": {"name": name}, "spout": {},
            "transform": {"cmd": ["sh", "-c", script]}}  # fmt: skip


TICKS = """
i=0
while true; do
  i=$((i+1))
  echo "tick $i"
  echo "$i" | raypachy put file {name}@master:/ticks/$i -f -
  sleep 1
done
"""


def test_command_spout_commits_feeds_downstream_and_stops_and_starts(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    spout, down = unique("spout"), unique("down")
    _create(c, tmp_path, _spout_spec(spout, TICKS.format(name=spout)))
    _until("the spout's first commit", lambda: _commits(c, spout))
    _create(c, tmp_path, {
        "pipeline": {"name": down},
        "input": {"pfs": {"repo": spout, "glob": "/ticks/*"}},
        "transform": {"cmd": ["sh", "-c", f"cp /pfs/{spout}/ticks/* /pfs/out/"]},
    })  # fmt: skip
    # Downstream runs on the spout's commits as on any other.
    outputs = _until("downstream outputs", lambda: [
        f["path"] for f in json.loads(c.cli("list", "file", f"{down}@master", "-o", "json").stdout)
    ] if _commits(c, down) else None)  # fmt: skip
    assert any(re.fullmatch(r"/\d+", p) for p in outputs), outputs
    log = _until("the spout's log", lambda: (t := _log(c, spout)) and "tick 2" in t and t)
    [pid] = _pids(log)
    assert pid_alive(pid)
    _follows_the_log(c, spout, max(int(n) for n in re.findall(r"tick (\d+)", log)))
    info = json.loads(c.cli("inspect", "pipeline", spout, "-o", "json").stdout)
    assert info["state"] == "running" and info["service_url"] == ""
    assert info["ray_options"]["num_cpus"] == 0  # a process that asks for none holds no CPU
    status = c.client().status()["metadata"]["controllers"][spout]
    assert status["process"] == f"raypachy:{spout}:spout", status

    c.cli("stop", "pipeline", spout)
    _until(f"pid {pid} to end", lambda: not pid_alive(pid), timeout=60)
    time.sleep(2)  # nothing commits any more
    before = len(_commits(c, spout))
    time.sleep(3)
    assert len(_commits(c, spout)) == before

    c.cli("start", "pipeline", spout)
    _until("a commit after start", lambda: len(_commits(c, spout)) > before)
    new = _until("a new pid", lambda: [p for p in _pids(_log(c, spout)) if p != pid])
    assert pid_alive(new[-1])
    c.cli("delete", "pipeline", down)
    c.cli("delete", "pipeline", spout)
    _until(f"pid {new[-1]} to end", lambda: not pid_alive(new[-1]), timeout=60)


def _follows_the_log(c: LocalCluster, spout: str, seen: int) -> None:
    """``logs -p SPOUT -f`` prints the process log as it grows (until it is stopped)."""
    follow = subprocess.Popen([RAYPACHY, "logs", "-p", spout, "-f"], env=c.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert follow.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = follow.stdout.readline().decode()
            found = re.fullmatch(r"tick (\d+)\n", line)
            if found and int(found.group(1)) > seen + 1:
                return
            assert line, "logs -f ended"
        raise AssertionError("logs -f printed no new tick")
    finally:
        follow.kill()
        follow.wait()
        follow.stdout.close()  # type: ignore[union-attr]


def test_a_spout_comes_back_after_the_controller_host_dies(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """The spout's actor is the controller host's: it goes with the host (its process with
    it), and the restarted host starts it again from the database."""
    c = local_cluster
    spout = unique("survive")
    _create(c, tmp_path, _spout_spec(spout, TICKS.format(name=spout)))
    [pid] = _until("the spout's pid", lambda: _pids(_log(c, spout)))
    host = c.client().status()["metadata"]["controllers"][spout]["pid"]
    os.kill(host, signal.SIGKILL)
    _until(f"pid {pid} to end", lambda: not pid_alive(pid), timeout=60)
    new = _until("a new pid", lambda: [p for p in _pids(_log(c, spout)) if p != pid])
    count = len(_commits(c, spout))
    _until("commits after the restart", lambda: len(_commits(c, spout)) > count)
    assert pid_alive(new[-1])
    c.cli("delete", "pipeline", spout)
    _until(f"pid {new[-1]} to end", lambda: not pid_alive(new[-1]), timeout=60)


def test_a_crashing_spout_is_restarted(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    spout = unique("crash")
    script = (
        f'date +%s%N | raypachy put file {spout}@master:/runs/$$ -f - && echo "run $$" && exit 3'
    )
    _create(c, tmp_path, _spout_spec(spout, script))
    _until("three runs", lambda: len(_commits(c, spout)) >= 3)
    log = _log(c, spout)
    assert "process exited with code 3: restarting in 1s" in log, log
    assert len(set(_pids(log))) >= 3, log
    assert "code -" not in log, log  # no restarted process killed by a signal
    # A fixed spout, by `update pipeline`: its process replaces the crashing one.
    path = tmp_path / "fixed.json"
    path.write_text(json.dumps(_spout_spec(spout, TICKS.format(name=spout))))
    c.cli("update", "pipeline", "-f", str(path))
    _until("the new version's ticks", lambda: "tick 2" in _log(c, spout))
    [fixed] = [p for p in _pids(_log(c, spout)) if p not in _pids(log)][-1:]
    assert pid_alive(fixed)
    c.cli("delete", "pipeline", spout)
    _until(f"pid {fixed} to end", lambda: not pid_alive(fixed), timeout=60)


SPOUT_FUNCTION = """
import time
import raypachy


@raypachy.spout(output="{name}")
def produce(client, repo):
    for i in range(3):
        client.put_file(f"{{repo}}@master", f"/n/{{i}}", str(i * i).encode())
        print("wrote", i)
    while True:
        time.sleep(60)
"""


def test_python_spout_gets_a_connected_client(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster
    spout = unique("pyspout")
    path = tmp_path / "spout.py"
    path.write_text(textwrap.dedent(SPOUT_FUNCTION.format(name=spout)))
    c.cli("create", "pipeline", "--python", str(path))
    _until("three commits", lambda: len(_commits(c, spout)) >= 3)
    assert c.cli("get", "file", f"{spout}@master:/n/2").stdout == b"4"
    log = _until("the spout's log", lambda: (t := _log(c, spout)) and "wrote 2" in t and t)
    assert f"spout started: pid {_pids(log)[0]} in actor raypachy:{spout}:spout" in log
    assert "(spout)" in c.cli("list", "pipeline", spout).stdout.decode()
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({**_spout_spec(unique("bad"), "true"), "input": {"pfs": {"repo": spout}}})
    )
    error = c.cli("create", "pipeline", "-f", str(bad), code=1).stderr.decode().strip()
    assert "a spout has no input" in error and "\n" not in error, error
    c.cli("delete", "pipeline", spout)


def test_service_serves_its_input_head_and_restarts_on_a_new_commit(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    repo, name = unique("site"), unique("web")
    internal, external = free_port(), free_port()
    c.cli("create", "repo", repo)
    c.cli("put", "file", f"{repo}@master:/index.txt", "-f", "-", stdin=b"version one")
    _create(c, tmp_path, {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "name": "in", "glob": "/"}},
        "transform": {"cmd": ["python3", "-m", "http.server", "--bind", "127.0.0.1",
                              "--directory", "/pfs/in", str(internal)]},
        "service": {"internal_port": internal, "external_port": external},
    })  # fmt: skip
    url = _until("the service url", lambda: json.loads(
        c.cli("inspect", "pipeline", name, "-o", "json").stdout)["service_url"])  # fmt: skip
    assert url == f"http://127.0.0.1:{external}"

    def served() -> str:
        try:
            return httpx.get(f"{url}/index.txt", timeout=5).text
        except httpx.HTTPError:
            return ""

    assert _until("the first version", lambda: served() == "version one")
    c.cli("put", "file", f"{repo}@master:/index.txt", "-f", "-", stdin=b"version two")
    assert _until("the second version", lambda: served() == "version two")
    assert not json.loads(c.cli("list", "job", "-p", name, "-o", "json").stdout or b"[]")
    assert "starting the service again" in _log(c, name)
    [first, *_] = _pids(_log(c, name))
    c.cli("delete", "pipeline", name)
    _until("the server to end", lambda: not pid_alive(first) and not served(), timeout=60)
