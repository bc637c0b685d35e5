"""No single request takes the server down: capped bodies, refused datum explosions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raypachy import errors
from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService

RAW = {"Content-Type": "application/octet-stream"}  # what clients send with raw bodies


@pytest.fixture
def pfs(tmp_path: Path) -> PFS:
    return PFS.open(str(tmp_path / "home"))


@pytest.fixture
def api(pfs: PFS) -> TestClient:
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri)
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


def _chunks(n: int, size: int = 64 << 10) -> Iterator[bytes]:
    """A body sent in pieces with no Content-Length (chunked): the server must count."""
    for _ in range(n):
        yield b"x" * size


def test_code_uploads_are_capped(
    api: TestClient, pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_CODE_BYTES", str(256 << 10))
    before = set(pfs.backend.list("chunks/"))
    ok = api.post("/v1/code", content=os.urandom(1000), headers=RAW)
    assert ok.status_code == 200
    for body in (b"x" * (257 << 10), _chunks(8)):  # declared, and streamed without a length
        r = api.post("/v1/code", content=body, headers=RAW)
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "payload_too_large"
        assert "RAYPACHY_MAX_CODE_BYTES (262,144 bytes)" in r.json()["message"]
    assert len(set(pfs.backend.list("chunks/")) - before) == 1  # only the good one


def test_uploads_are_capped_and_leave_nothing(
    api: TestClient, pfs: PFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_UPLOAD_BYTES", str(1 << 20))
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spool))
    pfs.create_repo("r")
    params = {"target": "r@master", "path": "/f"}
    assert (
        api.post("/v1/files/upload", params=params, content=b"y" * 1000, headers=RAW).status_code
        == 200
    )
    for body in (b"x" * ((1 << 20) + 1), _chunks(20)):
        r = api.post("/v1/files/upload", params=params, content=body, headers=RAW)
        assert r.status_code == 413 and "RAYPACHY_MAX_UPLOAD_BYTES" in r.json()["message"]
    assert pfs.get_file("r@master", "/f") == b"y" * 1000  # nothing else committed
    assert len(pfs.list_commits("r")) == 1
    assert list(spool.iterdir()) == []  # the spooled part is gone too


def test_the_client_says_why_an_upload_was_refused(
    api: TestClient, pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("RAYPACHY_DATA_PLANE", "api")
    client = Client("http://testserver")
    client._transport.http = api
    pfs.create_repo("r")
    with pytest.raises(errors.PayloadTooLargeError, match="larger than RAYPACHY_MAX_UPLOAD"):
        client.put_file("r@master", "/big", b"z" * 1001)


def _cross(n: int) -> dict:  # type: ignore[type-arg]
    inputs = [{"pfs": {"repo": "r", "glob": "/*", "name": f"i{k}"}} for k in range(n)]
    return {"pipeline": {"name": "boom"}, "input": {"cross": inputs},
            "transform": {"cmd": ["true"]}}  # fmt: skip


def test_an_exploding_preview_is_a_400_with_the_count(api: TestClient, pfs: PFS) -> None:
    pfs.create_repo("r")
    with pfs.modify("r@master") as m:
        for i in range(30):
            m.put(f"/f{i}", b"x")
    r = api.post("/v1/datums/preview", json={"spec": _cross(5)})
    assert r.status_code == 400 and r.json()["type"] == "TooManyDatumsError"
    assert r.json()["message"].startswith("the input would make 24,300,000 datums")
    r = api.post("/v1/datums/preview", json={"spec": _cross(2), "limit": 899})
    assert r.status_code == 400 and "900 datums, more than the preview limit" in r.text
    r = api.post("/v1/datums/preview", json={"spec": _cross(2), "limit": 900})
    assert r.status_code == 200 and len(r.json()) == 900
    r = api.post("/v1/datums/preview", json={"spec": _cross(5), "limit": 10**9})
    assert r.status_code == 400 and "more than RAYPACHY_MAX_DATUMS of 1,000,000" in r.text
