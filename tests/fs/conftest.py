"""A real raypachy API on 127.0.0.1 (uvicorn in a thread, no Ray) for the fsspec tests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from raypachy.client import Client
from raypachy.fs import RaypachyFileSystem
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.conftest import free_port


@dataclass
class Api:
    url: str
    pfs: PFS


@contextmanager
def serve(pfs: PFS) -> Iterator[Api]:
    """The HTTP API over ``pfs`` on a free port of 127.0.0.1, for the length of the block."""
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the test API did not start"
        time.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{port}", pfs)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve(PFS.open(str(tmp_path_factory.mktemp("fs") / "home"))) as api:
        yield api


@pytest.fixture(params=["direct", "api"])
def data_plane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Bytes straight from storage, or through the API (a client that cannot reach it)."""
    monkeypatch.setenv("RAYPACHY_DATA_PLANE", request.param)
    return str(request.param)


@pytest.fixture
def client(api_server: Api) -> Iterator[Client]:
    c = Client(api_server.url)
    yield c
    c.close()


@pytest.fixture
def fs(client: Client) -> RaypachyFileSystem:
    return RaypachyFileSystem(client=client, skip_instance_cache=True)


@pytest.fixture
def repo(client: Client) -> str:
    name = f"r{uuid.uuid4().hex[:10]}"
    client.create_repo(name)
    return name


#: The tree every read test starts from (path -> bytes), put in one commit.
LAYOUT = {
    "/file1": b"one\n",
    "/file2": b"two two\n",
    "/subdir/subfile1": b"sub one\n",
    "/subdir/subfile2": b"sub two\n",
    "/subdir/nesteddir/nestedfile": b"nested\n",
    "/data/a.csv": b"x,y\n1,2\n3,4\n",
    "/data/b.csv": b"x,y\n5,6\n",
}


@pytest.fixture
def layout(api_server: Api, repo: str) -> str:
    """A repo holding ``LAYOUT`` on master (written in-process, not through the code under
    test); returns the repo name."""
    with api_server.pfs.modify(f"{repo}@master") as m:
        for path, data in LAYOUT.items():
            m.put(path, data)
    return repo


def local_tree(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
