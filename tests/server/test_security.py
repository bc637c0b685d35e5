"""Security: the API token, secrets kept out of messages and specs, paths that try to escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raypachy.client import Client
from raypachy.errors import (
    InvalidArgumentError,
    InvalidPathError,
    InvalidSpecError,
    UnavailableError,
)
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.pfs.localfs import export
from raypachy.pps.spec import parse_spec
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.storage import Entry, FileData, Op

TOKEN = "tok-7f3a9c1e5d2b"


def _app(tmp_path: Path, token: str | None = TOKEN) -> tuple[TestClient, PFS]:
    pfs = PFS.open(str(tmp_path / "home"))
    app = create_app(
        LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(token) if token else None
    )
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False), pfs


def test_requests_without_the_token_get_401(tmp_path: Path) -> None:
    api, _ = _app(tmp_path)
    assert api.get("/healthz").status_code == 200  # probes need no token
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = api.get("/v1/repos", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
        assert r.headers["www-authenticate"] == "Bearer"
    r = api.post("/v1/repos", json={"name": "x"})
    assert r.status_code == 401
    ok = api.get("/v1/repos", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json() == []  # the refused POST created nothing


def test_the_client_sends_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api, _ = _app(tmp_path)
    monkeypatch.setenv("RAYPACHY_TOKEN", TOKEN)
    client = Client("http://testserver")
    api.headers.update(client._transport.http.headers)
    client._transport.http = api
    client.create_repo("ok")
    assert [r.name for r in client.list_repos()] == ["ok"]


def test_no_token_no_listening_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from raypachy.runtime.cluster import start_control_plane

    monkeypatch.delenv("RAYPACHY_TOKEN", raising=False)
    with pytest.raises(UnavailableError, match="without a token: set RAYPACHY_TOKEN"):
        start_control_plane("127.0.0.1:1", "/nonexistent", "memory://x", host="0.0.0.0")


def test_secrets_are_redacted_from_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRETabc123xyz")
    api, _ = _app(tmp_path, token=None)
    r = api.get("/v1/repos/SECRETabc123xyz")
    assert r.status_code == 404 and "SECRETabc123xyz" not in r.text and "***" in r.json()["message"]


def test_specs_do_not_store_secrets() -> None:
    spec = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r"}},
            "transform": {"cmd": ["true"], "env": {"DB_PASSWORD": "hunter2"}}}  # fmt: skip
    with pytest.raises(InvalidSpecError, match="DB_PASSWORD looks like a secret"):
        parse_spec(spec)
    fine = {**spec, "transform": {"cmd": ["true"], "env": {"MODE": "fast"}}}
    assert parse_spec(fine).transform.env == {"MODE": "fast"}


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/v1/files", {"target": "r@master", "path": "/../../etc"}),
        ("/v1/files", {"target": "../r@master", "path": "/"}),
        ("/v1/files/inspect", {"target": "r@master", "path": "/a/../../b"}),
        ("/v1/files/content", {"target": "r@master", "path": "/\x00etc"}),
        ("/v1/repos/..%2F..%2Fetc", {}),
    ],
)
def test_paths_cannot_escape(tmp_path: Path, url: str, params: dict[str, str]) -> None:
    api, _ = _app(tmp_path, token=None)
    api.post("/v1/repos", json={"name": "r"})
    r = api.get(url, params=params)
    assert 400 <= r.status_code < 500, r.text


def test_a_client_manifest_with_an_escaping_path_is_refused(tmp_path: Path) -> None:
    api, pfs = _app(tmp_path, token=None)
    api.post("/v1/repos", json={"name": "r"})
    bad = pfs.manifests.put([Entry("/../../etc/passwd", Op.PUT, FileData.empty())])
    r = api.post("/v1/layers", json={"target": "r@master", "manifest_id": bad.id})
    assert r.status_code == 400 and "not a normalised absolute path" in r.json()["message"]
    assert pfs.list_commits("r") == []


def test_export_never_writes_outside_its_destination(tmp_path: Path) -> None:
    pfs = PFS.open(str(tmp_path / "home"))
    with pytest.raises(InvalidPathError, match="outside"):
        export(pfs.chunks, [("/d/../../x", FileData.empty())], "/d", tmp_path / "out")
    assert not (tmp_path / "x").exists()


@pytest.mark.s3
def test_s3_errors_never_show_credentials(s3_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from raypachy.storage import open_backend

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value-42")
    backend = open_backend(s3_uri)
    with pytest.raises(Exception) as e:
        backend.put("k", b"v")
    assert "wrong-secret-value-42" not in str(e.value)
    assert str(e.value).startswith("cannot write s3://")
    assert isinstance(e.value, InvalidArgumentError) or "BackendError" in type(e.value).__name__


@pytest.mark.parametrize(
    "host", ["127.attacker.example", "127.0.0.1.nip.io", "localhost.example", "0.0.0.0", "::", ""]
)
def test_only_loopback_addresses_count_as_loopback(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from raypachy.runtime.cluster import start_control_plane
    from raypachy.secrets import is_loopback

    assert not is_loopback(host)
    monkeypatch.delenv("RAYPACHY_TOKEN", raising=False)
    with pytest.raises(UnavailableError, match="without a token"):  # DNS names may resolve anywhere
        start_control_plane("127.0.0.1:1", "/nonexistent", "memory://x", host=host)
    for loopback in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(loopback)


SECRET_NAMES = ["DB_PASS", "DB_PWD", "STRIPE_KEY", "GITHUB_PAT", "CREDENTIALS", "AUTH",
                "BASIC_AUTH", "DATABASE_URL", "SLACK_WEBHOOK", "SLACK_WEBHOOK_URL", "SENTRY_DSN",
                "GOOGLE_APPLICATION_CREDENTIALS", "SSH_PRIVATE_KEY", "OPENAI_APIKEY"]  # fmt: skip


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_common_secret_names_are_refused(tmp_path: Path, name: str) -> None:
    api, pfs = _app(tmp_path, token=None)
    pfs.create_repo("r")
    spec = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r", "glob": "/*"}},
            "transform": {"cmd": ["true"], "env": {name: "s3cr3t-value"}}}  # fmt: skip
    r = api.post("/v1/pipelines", json={"spec": spec})
    assert r.status_code == 400 and f"transform.env {name} looks like a secret" in r.text
    assert "s3cr3t-value" not in api.get("/v1/pipelines").text


def test_secrets_in_values_and_in_the_ray_env_are_refused() -> None:
    base = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r", "glob": "/*"}}}
    url = {**base, "transform": {"cmd": ["true"], "env": {"MONGO": "mongodb://app:hunter2@db/x"}}}
    with pytest.raises(InvalidSpecError, match=r"transform\.env MONGO looks like a secret"):
        parse_spec(url)
    ray_env = {**base, "transform": {"cmd": ["true"]},
               "ray": {"runtime_env": {"env_vars": {"HF_TOKEN": "hf_x"}}}}  # fmt: skip
    with pytest.raises(InvalidSpecError, match=r"ray\.runtime_env\.env_vars HF_TOKEN"):
        parse_spec(ray_env)
    fine = {"MODE": "fast", "LD_LIBRARY_PATH": "/usr/lib", "AUTHOR": "me", "KEYBOARD": "us",
            "PATTERN": "*.csv", "DATA_URL": "https://example.com/data.csv"}  # fmt: skip
    assert parse_spec({**base, "transform": {"cmd": ["true"], "env": fine}}).transform.env == fine
