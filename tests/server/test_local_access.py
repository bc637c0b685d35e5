"""No one in: the API served over real HTTP refuses DNS rebinding (foreign Host), cross-site
requests (foreign Origin, simple-request content types) and requests without its token; a
client sends its token only to a server that proves it holds it."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from raypachy.client import Client, connect
from raypachy.errors import RaypachyError, UnavailableError
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.runtime.state import ClusterState, write_state
from raypachy.secrets import ensure_local_token, token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.conftest import free_port
from tests.squatter import squatting_server


@dataclass
class Served:
    url: str
    port: int
    home: Path
    pfs: PFS
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def _serve(app: object, port: int) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The real app on 127.0.0.1 with the token `raypachy up` keeps in the home."""
    home = tmp_path / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("images")
    token = ensure_local_token(home)
    port = free_port()
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(token))
    with _serve(app, port):
        yield Served(f"http://127.0.0.1:{port}", port, home, pfs, token)


SPEC = {"pipeline": {"name": "pwn"}, "input": {"pfs": {"repo": "images", "glob": "/"}},
        "transform": {"cmd": ["sh", "-c", "id"]}}  # fmt: skip


def test_dns_rebinding_is_refused_even_with_the_token(served: Served) -> None:
    rebound = {"Host": f"rebind.attacker.example:{served.port}", **served.auth}
    r = httpx.get(f"{served.url}/v1/repos", headers=rebound)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert "Host 'rebind.attacker.example:" in r.json()["message"]
    r = httpx.post(f"{served.url}/v1/pipelines", json={"spec": SPEC}, headers=rebound)
    assert r.status_code == 403
    for host in ("127.attacker.example", "127.0.0.1.nip.io", "localhost.evil.example"):
        assert (
            httpx.get(f"{served.url}/v1/repos", headers={**served.auth, "Host": host}).status_code
            == 403
        )
    assert served.pfs.list_repos()[0].name == "images" and len(served.pfs.list_repos()) == 1
    assert Pachd(served.pfs).pps.list_pipelines() == []  # nothing was created
    for host in (f"127.0.0.1:{served.port}", f"localhost:{served.port}", "[::1]:8650", "127.0.0.2"):
        r = httpx.get(f"{served.url}/v1/repos", headers={**served.auth, "Host": host})
        assert r.status_code == 200, (host, r.text)


def test_cross_site_requests_are_refused(served: Served) -> None:
    upload = f"{served.url}/v1/files/upload?target=images@master&path=/run.sh"
    evil = {"Origin": "https://evil.example", **served.auth}
    r = httpx.post(upload, content=b"#!/bin/sh\necho owned\n",
                   headers={**evil, "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 403 and "cross-origin request from 'https://evil.example'" in r.text
    assert (
        httpx.post(f"{served.url}/v1/gc", headers={**served.auth, "Origin": "null"}).status_code
        == 403
    )
    # A simple request (no CORS preflight) is refused whatever its origin, on raw-body routes...
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"):
        r = httpx.post(upload, content=b"echo owned", headers={**served.auth, "Content-Type": kind})
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type", kind
        assert "send Content-Type: application/octet-stream" in r.json()["message"]
    r = httpx.post(
        f"{served.url}/v1/code", content=b"x", headers={**served.auth, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    # ... and on routes without a body.
    r = httpx.post(
        f"{served.url}/v1/gc", content=b"", headers={**served.auth, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    assert served.pfs.list_commits("images") == []  # nothing was written
    # The API's own origin and clients sending no Origin are served.
    own = {"Origin": served.url, "Content-Type": "application/octet-stream", **served.auth}
    assert httpx.post(upload, content=b"ok", headers=own).status_code == 200
    assert served.pfs.get_file("images@master", "/run.sh") == b"ok"


def test_requests_without_the_local_token_are_refused(served: Served) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(f"{served.url}/v1/repos", headers=headers)
        assert r.status_code == 401 and "$RAYPACHY_HOME/token" in r.json()["message"]
    r = httpx.post(f"{served.url}/v1/pipelines", json={"spec": SPEC})
    assert r.status_code == 401
    assert httpx.get(f"{served.url}/healthz").json()["ok"] is True  # probes need no token
    assert httpx.get(f"{served.url}/openapi.json", headers=served.auth).status_code == 200
    # No page loads third-party scripts: the Swagger UI and ReDoc pages are not served.
    for page in ("/docs", "/redoc"):
        assert httpx.get(f"{served.url}{page}", headers=served.auth).status_code == 404


def test_the_server_proves_it_holds_the_token(served: Served) -> None:
    challenge = "0123456789abcdef" * 2
    reply = httpx.get(f"{served.url}/healthz", params={"challenge": challenge}).json()
    key = bytes.fromhex(hashlib.sha256(served.token.encode()).hexdigest())
    expected = hmac.new(key, b"raypachy-api-identity:" + challenge.encode(), hashlib.sha256)
    assert reply["proof"] == expected.hexdigest()
    assert "proof" not in httpx.get(f"{served.url}/healthz").json()
    assert httpx.get(f"{served.url}/healthz", params={"challenge": "zz" * 10}).status_code == 400


def test_a_client_reads_the_token_from_the_home(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAYPACHY_TOKEN", raising=False)
    with Client(served.url, home=served.home) as client:
        assert [r.name for r in client.list_repos()] == ["images"]
        client.put_file("images@master", "/a.txt", b"via the API")  # raw upload, with its type
    # The local cluster of $RAYPACHY_HOME, as `raypachy.connect()` finds it.
    monkeypatch.setenv("RAYPACHY_HOME", str(served.home))
    monkeypatch.setenv("RAYPACHY_API_PORT", str(served.port))
    monkeypatch.delenv("RAYPACHY_ADDRESS", raising=False)
    with connect() as client:
        assert client.address == served.url and [r.name for r in client.list_repos()] == ["images"]
    # A home's token goes to that home's cluster only, not to any address given by hand...
    with (
        Client(served.url) as client,
        pytest.raises(RaypachyError, match="missing or wrong API token"),
    ):
        client.list_repos()
    # ... but to the one `raypachy up` recorded there (what Ray workers of that cluster get).
    write_state(ClusterState(str(served.home), "file:///x", served.url, "", "", None, 0.0))
    with Client(served.url) as client:
        assert [r.name for r in client.list_repos()] == ["images"]
    monkeypatch.setenv("RAYPACHY_TOKEN", "not-the-token")  # RAYPACHY_TOKEN wins over the home
    with connect() as client, pytest.raises(UnavailableError, match="RAYPACHY_TOKEN"):
        client.list_repos()


def test_a_client_never_sends_its_token_to_an_unproven_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = ensure_local_token(tmp_path / "home")
    monkeypatch.delenv("RAYPACHY_TOKEN", raising=False)
    unproven = "is not the raypachy API that holds the token"
    with squatting_server() as (port, seen):
        url = f"http://127.0.0.1:{port}"
        with (
            Client(url, home=tmp_path / "home") as client,
            pytest.raises(UnavailableError, match=unproven),
        ):
            client.list_repos()
        monkeypatch.setenv("RAYPACHY_TOKEN", "env-secret-token")
        with Client(url) as client, pytest.raises(UnavailableError, match="RAYPACHY_TOKEN"):
            client.create_repo("x")
    assert len(seen) == 2 and all(line.startswith("GET /healthz?challenge=") for line in seen)
    assert all(line.endswith(" None") for line in seen)  # no Authorization header, ever
    assert not any(token in line or "env-secret-token" in line for line in seen)


def test_the_console_says_where_the_local_token_is(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from raypachy.cli.console_command import sign_in_hint

    for name in ("RAYPACHY_ADDRESS", "RAYPACHY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAYPACHY_HOME", str(served.home))
    hint = sign_in_hint(served.url)
    assert f"sign in with the API token in {served.home / 'token'}" in hint
    assert served.token not in hint
