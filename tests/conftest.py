from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import describe, wait_gone
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server, start_s3_server

# Tests never talk to a real cloud: pin the AWS settings before anything reads them.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# Ray clusters the tests start stay on 127.0.0.1, without token auth; Ray reads these when
# it is imported, so they are set before any test imports it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Every process the suite starts inherits this mark; when the suite ends, none may be left.
SESSION_MARK = "RAYPACHY_TEST_SESSION"
os.environ[SESSION_MARK] = uuid.uuid4().hex


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started survived it (and stop those processes)."""
    import signal
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    wait = float(os.environ.get("RAYPACHY_TEST_LEFTOVER_WAIT_S", "30"))  # for stragglers
    left = wait_gone(SESSION_MARK, os.environ[SESSION_MARK], seconds=wait)
    if not left:
        return
    report = describe(left)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"processes started by the test suite outlived it (killed now):\n{report}\n"
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        sys.stderr.write(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"))
    saved = {k: os.environ.get(k) for k in ("RAYPACHY_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY")}  # fmt: skip
    os.environ["RAYPACHY_S3_ENDPOINT"] = server.endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


S3_BUCKET = "raypachy-test"


@pytest.fixture
def s3_uri(s3_server: S3Server) -> str:
    """A fresh prefix in the one test bucket (SeaweedFS gives each bucket its own volumes)."""
    client = s3_server.client()
    if S3_BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=S3_BUCKET)
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", "file", "s3"])
def storage_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One storage URI per backend kind: the shared conformance parameter."""
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if request.param == "file":
        return f"file://{tmp_path / 'storage'}"
    return str(request.getfixturevalue("s3_uri"))


@pytest.fixture
def pfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    from raypachy.pfs import PFS

    return PFS.open(str(tmp_path / "home"))


# --- a real local cluster, shared by every test marked `ray` --------------------------------

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

RAYPACHY = str(Path(sys.executable).with_name("raypachy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """A raypachy installation with its own home and API port, driven like a user would."""

    home: Path
    env: dict[str, str]
    api_url: str
    s3_url: str
    clients: list[Any] = field(default_factory=list)

    def cli(self, *args: str, stdin: bytes | None = None, code: int = 0,
            timeout: float = 300) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        done = subprocess.run(
            [RAYPACHY, *args], input=stdin, capture_output=True, env=self.env, timeout=timeout
        )
        assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    @property
    def token(self) -> str:
        """The API token `raypachy up` keeps in the home (mode 0600)."""
        from raypachy.secrets import read_local_token

        token = read_local_token(self.home)
        assert token is not None, f"no API token in {self.home}"
        return token

    def client(self):  # type: ignore[no-untyped-def]
        """A client closed when the cluster fixture ends (tests need not close it); like a
        user's, it reads the API token from the cluster's home."""
        from raypachy.client import Client

        client = Client(self.api_url, home=self.home)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()


def start_cluster(home: Path, extra_env: dict[str, str] | None = None) -> LocalCluster:
    port, s3_port = free_port(), free_port()
    env = {**os.environ, "RAYPACHY_HOME": str(home), "RAYPACHY_API_PORT": str(port),
           "RAYPACHY_S3_PORT": str(s3_port), **(extra_env or {})}  # fmt: skip
    env.pop("RAYPACHY_ADDRESS", None)
    cluster = LocalCluster(home, env, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{s3_port}")
    cluster.cli("up", "--num-cpus", "2", timeout=180)
    return cluster


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("cluster") / "home")
    try:
        yield cluster
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)


@pytest.fixture(autouse=True)
def _close_cluster_clients(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "local_cluster" in request.fixturenames:
        request.getfixturevalue("local_cluster").close_clients()
