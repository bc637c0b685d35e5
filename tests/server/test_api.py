"""The HTTP API in-process (no Ray): shapes, status codes, and the client against it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raypachy import errors
from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService


@pytest.fixture
def api(tmp_path: Path) -> TestClient:
    pfs = PFS.open(str(tmp_path / "home"))
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri)
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


@pytest.fixture
def client(api: TestClient) -> Client:
    c = Client("http://testserver")
    c._transport.http = api  # the real client code over the in-process app
    return c


def test_openapi_is_served(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    assert spec["info"]["title"] == "raypachy"
    assert {"/v1/repos", "/v1/commits/start", "/v1/files", "/v1/layers"} <= set(spec["paths"])


def test_error_shape_and_status(api: TestClient) -> None:
    missing = api.get("/v1/repos/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "not_found",
        "message": "repo nope not found",
        "type": "RepoNotFoundError",
    }
    assert api.post("/v1/repos", json={"name": "r"}).status_code == 200
    dup = api.post("/v1/repos", json={"name": "r"})
    assert dup.status_code == 409 and dup.json()["code"] == "already_exists"
    bad = api.post("/v1/repos", json={"name": "bad name"})
    assert bad.status_code == 400 and "invalid repo name" in bad.json()["message"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/v1/repos", {}),
        ("post", "/v1/repos", {"name": 7}),
        ("post", "/v1/repos", {"name": "x", "surprise": True}),
        ("post", "/v1/repos", "not json"),
        ("post", "/v1/commits/start", {"target": "r@master", "provenance": "x"}),
        ("post", "/v1/commits/wait", {"target": "r@master", "timeout": -1}),
        ("post", "/v1/leases", {"host": "h", "pid": -5}),
        ("post", "/v1/layers", {"target": "r@master", "manifest_id": "zz"}),
        ("post", "/v1/layers", {"target": "r@master", "manifest_id": "a" * 64}),
        ("get", "/v1/commits?limit=0", None),
        ("get", "/v1/files?target=r@master&path=../x", None),
        ("get", "/v1/commit?target=%40%40", None),
    ],
)
def test_malformed_requests_get_4xx_and_change_nothing(
    api: TestClient, method: str, url: str, body: object
) -> None:
    api.post("/v1/repos", json={"name": "r"})
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = (
        getattr(api, method)(url, **kwargs) if body is not None else getattr(api, method)(url)
    )
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"code", "message", "type"}
    assert [r["name"] for r in api.get("/v1/repos").json()] == ["r"]
    assert api.get("/v1/commits").json() == []


def test_client_against_the_api(client: Client, tmp_path: Path) -> None:
    client.create_repo("data")
    big = os.urandom(3 << 20)
    c1 = client.put_file("data@master", "/big", big)
    with client.modify("data@master") as m:
        m.put("/small", b"s")
        m.copy("data@master", "/big", "/copy")
    assert client.get_file("data@master", "/copy") == big
    assert client.inspect_commit("data@master^").id == c1.id
    assert [f.path for f in client.list_files("data@master")] == ["/big", "/copy", "/small"]
    assert [c.change for c in client.diff_files("data@master")] == ["added", "added"]
    client.delete_file("data@master", "/small")
    assert [f.path for f in client.glob_files("data@master", "/*")] == ["/big", "/copy"]
    with pytest.raises(errors.PathNotFoundError):
        client.get_file("data@master", "/small")
    with pytest.raises(errors.RepoNotFoundError):
        client.inspect_repo("nope")
    started = client.start_commit("data@master")
    with pytest.raises(errors.CommitOpenError):
        client.start_commit("data@master")
    client.finish_commit(f"data@{started.id}")
    assert client.wait_commit(f"data@{started.id}", timeout=5).finished is not None
    client.get_to("data@master", "/", tmp_path / "out")
    assert (tmp_path / "out" / "copy").read_bytes() == big
    assert client.gc().chunks_kept >= 2


def test_upload_and_download_through_the_api(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_DATA_PLANE", "api")
    client.create_repo("r")
    payload = os.urandom(2 << 20)
    commit = client.put_file("r@master", "/blob", payload)
    assert commit.size_bytes == len(payload)
    assert client.get_file("r@master", "/blob") == payload
    with pytest.raises(errors.PathNotFoundError):
        client.get_file("r@master", "/missing")


def test_another_projects_repo_travels_as_its_name_and_a_project_query(
    api: TestClient, client: Client
) -> None:
    """A path segment never holds a '/': staging/images is /v1/repos/images?project=staging."""
    assert api.post("/v1/projects", json={"name": "staging"}).status_code == 200
    assert api.post("/v1/repos", json={"name": "staging/images", "description": "s"}).is_success
    assert api.post("/v1/repos", json={"name": "images", "description": "d"}).is_success
    staged = api.get("/v1/repos/images", params={"project": "staging"}).json()
    assert (staged["name"], staged["project"], staged["description"]) == (
        "staging/images", "staging", "s"
    )  # fmt: skip
    assert api.get("/v1/repos/images").json()["description"] == "d"
    assert api.get("/v1/repos/images", params={"project": "default"}).json()["project"] == "default"
    missing = api.get("/v1/repos/images", params={"project": "nope"})
    assert missing.status_code == 404 and "nope/images" in missing.json()["message"]
    # the console's routes read the project the same way
    spec = {"pipeline": {"name": "copy", "project": "staging"},
            "input": {"pfs": {"repo": "images", "glob": "/"}}, "transform": {"cmd": ["true"]}}  # fmt: skip
    assert api.post("/v1/pipelines", json={"spec": spec}).is_success
    versions = api.get("/v1/pipelines/copy/versions", params={"project": "staging"}).json()
    assert [v["pipeline"] for v in versions] == ["staging/copy"]
    assert api.get("/v1/pipelines/copy/versions").status_code == 404
    client.put_file("staging/images@master", "/a", b"a")
    [job] = api.get("/v1/jobs", params={"pipeline": "staging/copy"}).json()
    progress = api.get(f"/v1/jobs/copy/{job['id']}/progress", params={"project": "staging"})
    assert progress.status_code == 200 and progress.json()["job"]["pipeline"] == "staging/copy"
    deleted = api.delete("/v1/projects/staging", params={"force": True}).json()
    assert deleted["project"] == "staging" and "pipeline staging/copy" in deleted["deleted"]


def test_a_bad_project_in_the_query_is_refused_in_one_line(api: TestClient) -> None:
    for path in ("/v1/repos/images", "/v1/pipelines/p/versions", "/v1/jobs/p/latest/datums"):
        bad = api.get(path, params={"project": "../x"})
        assert bad.status_code == 400, (path, bad.text)
        assert "invalid project name" in bad.json()["message"]
