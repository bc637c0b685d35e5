"""Worker nodes hold no API token: what a pipeline runs gets the one it acts with from the
control plane, as task and actor arguments. Before ``auth activate`` that is the cluster's
token, after it the pipeline's own.

The cluster plays a KubeRay one on this host: a head with the token in its environment (the
control plane, no CPUs) and a worker node that joins it with no token and no raypachy home
(a worker pod), where every datum and spout runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from raypachy.runtime.cluster import RAY_ENV, _stop_ray, ray_temp_dir, start_ray_head
from tests.conftest import RAYPACHY, free_port

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RAY = str(Path(sys.executable).with_name("ray"))


def _bare_env(**extra: str) -> dict[str, str]:
    """This environment without any raypachy variable (no token, no home), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYPACHY_")}
    return {**env, **extra}


@dataclass
class Cluster:
    env: dict[str, str]  # the CLI's: the API's address and the cluster's token

    def cli(self, *args: str, code: int = 0, timeout: float = 300) -> str:
        done = subprocess.run([RAYPACHY, *args], capture_output=True, env=self.env,
                              timeout=timeout)  # fmt: skip
        assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout.decode()

    def wait_file(self, target: str, seconds: float = 240) -> str:
        deadline = time.monotonic() + seconds
        get = [RAYPACHY, "get", "file", target]
        while (got := subprocess.run(get, env=self.env, capture_output=True)).returncode:
            assert time.monotonic() < deadline, (target, got.stderr[-1000:])
            time.sleep(1)
        return got.stdout.decode()

    def run_job(self, repo: str) -> None:
        commit = json.loads(self.cli("inspect", "commit", f"{repo}@master", "-o", "json"))["id"]
        self.cli("wait", "commit", commit, "-o", "json", timeout=300)
        for job in json.loads(self.cli("list", "job", commit, "-o", "json")):
            assert job["state"] == "success", (job["pipeline"], job["reason"])


@pytest.fixture(scope="module")
def kuberay_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("podenv")
    token = secrets.token_urlsafe(32)
    head_home, storage = tmp / "head", tmp / "storage"
    storage.mkdir()
    # The head: the cluster's token in its environment, as the KubeRay head pod has it.
    pid, gcs, _, _ = start_ray_head(head_home, 0, extra_env={"RAYPACHY_TOKEN": token})
    worker: subprocess.Popen[bytes] | None = None
    try:
        host, port = gcs.rsplit(":", 1)
        start = [RAY, "start", f"--address=[::ffff:{host}]:{port}", "--block",
                 "--node-ip-address=127.0.0.1", "--num-cpus=3", "--disable-usage-stats",
                 f"--dashboard-agent-listen-port={free_port()}",
                 f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]  # fmt: skip
        # The worker: no token, and a home that does not exist (a worker pod mounts none).
        env = _bare_env(**{**RAY_ENV, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"},
                        RAYPACHY_HOME=str(tmp / "no-home"))  # fmt: skip
        with open(tmp / "worker.log", "ab") as out:
            worker = subprocess.Popen(start, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)  # fmt: skip
        api = free_port()
        served = subprocess.run(
            [RAYPACHY, "serve", "--address", gcs, "--home", str(head_home), "--storage",
             f"file://{storage}", "--port", str(api), "--s3-port", str(free_port()), "--detach"],
            env=_bare_env(**RAY_ENV, RAYPACHY_TOKEN=token), capture_output=True, text=True,
            timeout=400,
        )  # fmt: skip
        assert served.returncode == 0, (served.stdout, served.stderr)
        cli_home = tmp / "cli"
        cli_home.mkdir()
        yield Cluster(_bare_env(RAYPACHY_ADDRESS=f"http://127.0.0.1:{api}",
                                RAYPACHY_TOKEN=token, RAYPACHY_HOME=str(cli_home)))  # fmt: skip
    finally:
        # A command that found no API would have started a local one in the worker's home.
        subprocess.run([RAYPACHY, "down"], env=_bare_env(RAYPACHY_HOME=str(tmp / "no-home")),
                       capture_output=True, timeout=120)  # fmt: skip
        if worker is not None:
            _stop_ray(worker.pid)
            worker.wait(60)
        _stop_ray(pid)
        shutil.rmtree(ray_temp_dir(head_home), ignore_errors=True)


PROBE = """
import json
import raypachy

@raypachy.pipeline(input=raypachy.pfs("src", glob="/*"), name="pyprobe")
def pyprobe(datum):
    # The environment this worker process started with, before the datum's own was added.
    with open("/proc/self/environ", "rb") as f:
        started = [v.split(b"=", 1)[0].decode() for v in f.read().split(b"\\0") if v]
    client = raypachy.connect()
    for f in datum.input().rglob("*"):
        seen = {
            "process_env_token": "RAYPACHY_TOKEN" in started,
            "input": client.get_file("src@master", "/" + f.name).decode(),
            "who": client.whoami().get("principal") if f.name != "a" else None,
        }
        (datum.out / f.name).write_text(json.dumps(seen))
"""


CLASS_PROBE = """
import json
import raypachy

@raypachy.pipeline(input=raypachy.pfs("src", glob="/*"), name="clsprobe")
class ClsProbe:
    def setup_job(self, job):  # on a pool actor, before the job's datums
        client = raypachy.connect()
        self.seen = {"input": client.get_file("src@master", "/a").decode()}
        if len(client.list_files("src@master", "/")) > 1:  # after auth was activated
            self.seen["who"] = client.whoami()["principal"]

    def __call__(self, datum):
        for f in datum.input().rglob("*"):
            (datum.out / f.name).write_text(json.dumps(self.seen))
"""


def _spout(name: str) -> dict[str, object]:
    line = (f"{RAYPACHY} auth whoami > /tmp/who$$ 2>&1; "
            f"{RAYPACHY} put file {name}@master:/who -f /tmp/who$$; sleep 600")  # fmt: skip
    return {"pipeline": {"name": name}, "spout": {}, "transform": {"cmd": ["sh", "-c", line]}}


def test_datums_and_spouts_reach_the_api_from_a_node_without_a_token(
    kuberay_like: Cluster, tmp_path: Path
) -> None:
    c = kuberay_like
    c.cli("create", "repo", "src")
    (tmp_path / "probe.py").write_text(textwrap.dedent(PROBE))
    c.cli("create", "pipeline", "--python", str(tmp_path / "probe.py"))
    (tmp_path / "clsprobe.py").write_text(textwrap.dedent(CLASS_PROBE))
    c.cli("create", "pipeline", "--python", str(tmp_path / "clsprobe.py"))
    # The command reads its input through the API (not /pfs), and says who it is.
    line = (f"f=$(basename /pfs/src/*); {RAYPACHY} get file src@master:/$f > /pfs/out/$f && "
            f"{RAYPACHY} auth whoami > /pfs/out/who-$f 2>&1; true")  # fmt: skip
    cmdprobe = {
        "pipeline": {"name": "cmdprobe"},
        "input": {"pfs": {"repo": "src", "glob": "/*"}},
        "transform": {"cmd": ["sh", "-c", line]},
    }
    for spec in (cmdprobe, _spout("feedbefore")):
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(spec))
        c.cli("create", "pipeline", "-f", str(path))

    # Before auth is activated: the cluster's token, handed by the control plane.
    subprocess.run([RAYPACHY, "put", "file", "src@master:/a", "-f", "-"], input=b"alpha",
                   env=c.env, check=True, capture_output=True)  # fmt: skip
    c.run_job("src")
    seen = json.loads(c.cli("get", "file", "pyprobe@master:/a"))
    assert seen == {"process_env_token": False, "input": "alpha", "who": None}, seen
    assert c.cli("get", "file", "cmdprobe@master:/a") == "alpha"
    assert json.loads(c.cli("get", "file", "clsprobe@master:/a")) == {"input": "alpha"}
    c.wait_file("feedbefore@master:/who")  # the spout wrote its output through the API
    c.cli("delete", "pipeline", "feedbefore")

    # After: each acts as its pipeline.
    c.cli("auth", "activate")
    c.cli("create", "pipeline", "-f", str(_write(tmp_path / "after.json", _spout("feedafter"))))
    subprocess.run([RAYPACHY, "put", "file", "src@master:/b", "-f", "-"], input=b"beta",
                   env=c.env, check=True, capture_output=True)  # fmt: skip
    c.run_job("src")
    seen = json.loads(c.cli("get", "file", "pyprobe@master:/b"))
    assert seen == {"process_env_token": False, "input": "beta", "who": "pipeline:pyprobe"}
    assert c.cli("get", "file", "cmdprobe@master:/b") == "beta"
    assert "pipeline:cmdprobe" in c.cli("get", "file", "cmdprobe@master:/who-b")
    seen = json.loads(c.cli("get", "file", "clsprobe@master:/b"))
    assert seen == {"input": "alpha", "who": "pipeline:clsprobe"}, seen
    assert "pipeline:feedafter" in c.wait_file("feedafter@master:/who")
    c.cli("delete", "pipeline", "feedafter")


def _write(path: Path, spec: dict[str, object]) -> Path:
    path.write_text(json.dumps(spec))
    return path
