"""Byte ranges on the download route: a client that cannot reach storage still reads only
the part of a file it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService

BLOB = os.urandom(6 << 20)


@pytest.fixture
def api(tmp_path: Path) -> TestClient:
    pfs = PFS.open(str(tmp_path / "home"))
    pfs.create_repo("r")
    pfs.put_file("r@master", "/big.bin", BLOB)
    pfs.put_file("r@master", "/empty", b"")
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri)
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


def _get(api: TestClient, range_header: str | None, path: str = "/big.bin"):  # type: ignore[no-untyped-def]
    headers = {"Range": range_header} if range_header else {}
    return api.get("/v1/files/content", params={"target": "r@master", "path": path},
                   headers=headers)  # fmt: skip


def test_whole_file_says_ranges_are_accepted(api: TestClient) -> None:
    r = _get(api, None)
    assert r.status_code == 200 and r.content == BLOB
    assert r.headers["accept-ranges"] == "bytes"
    assert int(r.headers["content-length"]) == len(BLOB)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=3000000-3000099", 3_000_000, 3_000_100),
        (f"bytes={len(BLOB) - 5}-", len(BLOB) - 5, len(BLOB)),
        ("bytes=-7", len(BLOB) - 7, len(BLOB)),
        (f"bytes=100-{len(BLOB) + 1000}", 100, len(BLOB)),
        (f"bytes=-{len(BLOB) * 2}", 0, len(BLOB)),
    ],
)
def test_a_range_gets_206_and_only_those_bytes(
    api: TestClient, header: str, start: int, end: int
) -> None:
    r = _get(api, header)
    assert r.status_code == 206
    assert r.content == BLOB[start:end]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BLOB)}"
    assert int(r.headers["content-length"]) == end - start


@pytest.mark.parametrize("header", [f"bytes={len(BLOB)}-", "bytes=10-5", "bytes=-0"])
def test_an_unsatisfiable_range_gets_416(api: TestClient, header: str) -> None:
    r = _get(api, header)
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(BLOB)}"
    assert r.json()["code"] == "range_not_satisfiable"


def test_an_empty_file_has_no_byte_to_range_over(api: TestClient) -> None:
    assert _get(api, "bytes=0-", "/empty").status_code == 416
    assert _get(api, None, "/empty").content == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=x-y", "bytes=-"])
def test_a_range_we_do_not_serve_gets_the_whole_file(api: TestClient, header: str) -> None:
    r = _get(api, header)
    assert r.status_code == 200 and r.content == BLOB
