"""Write leases through the API: issued by the server, checked at registration, kept alive
by heartbeats that survive transient errors, and failing the write clearly when lost."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from raypachy import errors
from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs import PFS, leases
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.storage import FileSetWriter
from tests.conftest import free_port


@pytest.fixture
def pfs(tmp_path: Path) -> PFS:
    return PFS.open(str(tmp_path / "home"))


@pytest.fixture
def api(pfs: PFS) -> TestClient:
    return TestClient(create_app(LocalService(Pachd(pfs)), pfs.backend.uri),
                      base_url="http://127.0.0.1", raise_server_exceptions=False)  # fmt: skip


def _client(api: TestClient) -> Client:
    c = Client("http://testserver")
    c._transport.http = api  # the real client code over the in-process app
    return c


def _holders(pfs: PFS) -> list[tuple[str, int]]:
    with pfs.meta.read() as tx:
        return [(lease.host, lease.pid) for lease in tx.leases()]


def test_a_lapsed_lease_cannot_register_what_gc_removed(
    pfs: PFS, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 2.0)  # stands for the real 120 s
    pfs.create_repo("r")
    assert api.put("/v1/leases/" + "0" * 32).status_code == 409  # unknown lease
    lease = api.post("/v1/leases", json={}).json()["id"]
    writer = FileSetWriter(pfs.chunks, pfs.manifests)  # a direct-writing client
    writer.put("/big.bin", b"precious " * 200_000)
    assert api.put(f"/v1/leases/{lease}").status_code == 200
    time.sleep(2.5)  # no heartbeat for longer than the TTL
    assert api.post("/v1/gc").json()["chunks_deleted"] >= 1  # the lapsed lease protects nothing
    beat = api.put(f"/v1/leases/{lease}")
    assert beat.status_code == 409 and beat.json()["type"] == "LeaseExpiredError"
    layer = writer.close()
    r = api.post("/v1/layers", json={"target": "r@master", "manifest_id": layer.id,
                                      "lease_id": lease})  # fmt: skip
    assert r.status_code == 409 and "expired or is unknown" in r.json()["message"]
    assert "\n" not in r.json()["message"]
    assert api.get("/v1/repos/r/branches").json() == []  # nothing was committed


def test_registration_needs_a_lease(pfs: PFS, api: TestClient) -> None:
    pfs.create_repo("r")
    layer = pfs.manifests.put([])  # an empty but valid manifest
    r = api.post("/v1/layers", json={"target": "r@master", "manifest_id": layer.id})
    assert r.status_code == 409 and "no write lease given" in r.json()["message"]


def test_client_heartbeats_survive_transient_errors(
    pfs: PFS, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 3.0)  # heartbeats every 0.5 s
    client = _client(api)
    client.create_repo("r")
    beats: list[int] = []
    enough = threading.Event()
    request = api.request

    def flaky(method: str, url: Any, **kw: Any) -> httpx.Response:
        if method == "PUT" and str(url).startswith("/v1/leases/"):
            beats.append(1)
            if len(beats) >= 6:
                enough.set()
            if len(beats) <= 3:  # the API is briefly unreachable
                raise httpx.ConnectError("connection refused")
        return request(method, url, **kw)

    monkeypatch.setattr(api, "request", flaky)
    with client.modify("r@master") as m:
        m.put("/a", b"a" * 1000)
        assert enough.wait(30)  # three failed beats, then good ones: the lease held
    assert client.get_file("r@master", "/a") == b"a" * 1000


def test_a_lost_lease_fails_the_put_with_one_clear_line(
    pfs: PFS, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 3.0)
    client = _client(api)
    client.create_repo("r")
    with pytest.raises(errors.LeaseExpiredError) as lost, client.modify("r@master") as m:
        m.put("/a", b"a" * 1000)
        with pfs.meta.write() as tx:  # as gc does with a lease it found lapsed
            for lease in tx.leases():
                tx.delete_lease(lease.id)
        deadline = time.monotonic() + 30
        while not client._leases.lost and time.monotonic() < deadline:
            time.sleep(0.05)
    message = str(lost.value)
    assert "expired or is unknown" in message and "write the data again" in message
    assert "\n" not in message
    assert client.list_branches("r") == []


def test_callers_cannot_say_whose_lease_it_is(
    pfs: PFS, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    squat = api.post("/v1/leases", json={"host": socket.gethostname(), "pid": 1})
    assert squat.status_code == 400 and "cannot check that process 1" in squat.json()["message"]
    assert _holders(pfs) == []
    monkeypatch.setattr(leases, "LEASE_MAX_S", 3.0)  # long enough for two calls on a busy host
    lease = api.post("/v1/leases", json={"pid": 1})  # a pid it cannot prove is ignored
    assert lease.status_code == 200
    assert _holders(pfs) == [("api-caller:testclient", 0)]
    assert api.post("/v1/gc").status_code == 409  # a live lease keeps gc out ...
    time.sleep(3.2)
    assert api.put(f"/v1/leases/{lease.json()['id']}").status_code == 409
    assert api.post("/v1/gc").status_code == 200  # ... but only until its bound


def test_uploaded_code_is_kept_until_a_pipeline_uses_it(pfs: PFS, api: TestClient) -> None:
    key = api.post("/v1/code", content=b"pickled function").json()["code"]
    with pfs.leases.writer() as lease:  # a client that writes the chunk itself
        own, _ = pfs.chunks.put(b"another pickled function")
        assert api.post("/v1/code/pins", json={"code": own.hex(),
                                               "lease_id": lease}).status_code == 200  # fmt: skip
    assert api.post("/v1/gc").status_code == 200
    assert pfs.chunks.exists(bytes.fromhex(key)) and pfs.chunks.exists(own)
    bad = api.post("/v1/code/pins", json={"code": "not-hex", "lease_id": "x"})
    assert bad.status_code == 400 and "invalid code key" in bad.json()["message"]
    dead = api.post("/v1/code/pins", json={"code": key, "lease_id": "0" * 32})
    assert dead.status_code == 409


@pytest.fixture
def served(pfs: PFS) -> Iterator[str]:
    """The app served over real TCP on 127.0.0.1 (the server sees real peers)."""
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_local_caller_is_known_by_the_pid_holding_its_connection(pfs: PFS, served: str) -> None:
    with Client(served) as client, client.write_lease():
        assert _holders(pfs) == [(socket.gethostname(), os.getpid())]
    with httpx.Client(base_url=served) as http:
        assert http.post("/v1/leases", json={"pid": 1}).status_code == 200
    assert _holders(pfs) == [("api-caller:127.0.0.1", 0)]  # pid 1 does not hold that socket
