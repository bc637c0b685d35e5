"""Specs that used to be stored and then break listings or gc are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService


@pytest.fixture
def api(tmp_path: Path) -> TestClient:
    pfs = PFS.open(str(tmp_path / "home"))
    pfs.create_repo("r")
    return TestClient(create_app(LocalService(Pachd(pfs)), pfs.backend.uri),
                      base_url="http://127.0.0.1", raise_server_exceptions=False)  # fmt: skip


def _spec(name: str, **fields: object) -> dict[str, object]:
    return {"pipeline": {"name": name}, "input": {"pfs": {"repo": "r", "glob": "/*"}},
            "transform": {"cmd": ["true"]}} | fields  # fmt: skip


def test_a_deeply_nested_spec_is_refused_before_it_is_stored(api: TestClient) -> None:
    assert api.post("/v1/pipelines", json={"spec": _spec("fine")}).status_code == 200
    depth = 150
    body = ('{"spec": {"pipeline": {"name": "deep"}, "transform": {"cmd": ["true"]}, "input": '
            + '{"cross": [' * depth + '{"pfs": {"repo": "r", "glob": "/*"}}' + "]}" * depth
            + "}}")  # fmt: skip
    r = api.post("/v1/pipelines", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "more than 64 levels deep" in r.json()["message"]
    assert api.get("/v1/pipelines/deep").status_code == 404
    listing = api.get("/v1/pipelines")
    assert listing.status_code == 200 and [p["name"] for p in listing.json()] == ["fine"]


def test_a_python_transform_needs_a_hex_code_key(api: TestClient) -> None:
    bad = _spec("p", transform={"python": {"code": "not-hex!", "function": "m:f"}})
    r = api.post("/v1/pipelines", json={"spec": bad})
    assert r.status_code == 400 and "invalid code key" in r.json()["message"]
    assert api.get("/v1/pipelines/p").status_code == 404
    assert api.post("/v1/gc").status_code == 200
