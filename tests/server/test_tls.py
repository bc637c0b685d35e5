"""TLS: the API served over https by the actors' uvicorn, clients that verify it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from raypachy.client import Client
from raypachy.errors import InvalidArgumentError, UnavailableError
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.tls import TlsFiles, tls_files
from tests.certs import self_signed

TOKEN = "tok-tls-5e1d0c9b"


@pytest.fixture
def https_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The API over https on 127.0.0.1 as the API actor serves it; yields (url, cert)."""
    from raypachy.runtime.actors import _listen
    from tests.conftest import free_port

    cert, key = self_signed(tmp_path / "tls")
    pfs = PFS.open(str(tmp_path / "home"))
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(TOKEN))
    port = free_port()
    server, error = _listen(app, "127.0.0.1", port, tls_files(str(cert), str(key)))
    assert not error
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    monkeypatch.setenv("RAYPACHY_TOKEN", TOKEN)
    monkeypatch.delenv("RAYPACHY_CA_FILE", raising=False)
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        server.should_exit = True


def test_a_client_with_the_ca_talks_https(https_api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url, cert = https_api
    monkeypatch.setenv("RAYPACHY_CA_FILE", str(cert))
    with Client(url) as client:
        client.create_repo("secure")
        client.put_file("secure@master", "/a.txt", b"over tls")
        assert client.get_file("secure@master", "/a.txt") == b"over tls"
        assert b"".join(client.open_file("secure@master", "/a.txt")) == b"over tls"


def test_a_client_without_the_ca_gets_one_clear_line(https_api) -> None:  # type: ignore[no-untyped-def]
    url, _ = https_api
    with Client(url) as client, pytest.raises(UnavailableError) as caught:
        client.list_repos()
    message = str(caught.value)
    assert "\n" not in message
    assert (
        f"the raypachy API at {url} presented a certificate this client does not trust" in message
    )
    assert "RAYPACHY_CA_FILE" in message


def test_plain_http_to_an_https_server_fails(https_api) -> None:  # type: ignore[no-untyped-def]
    url, _ = https_api
    with Client(url.replace("https", "http")) as client, pytest.raises(UnavailableError):
        client.list_repos()


def test_bad_tls_files_are_refused_in_one_line(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "a")
    other_cert, _ = self_signed(tmp_path / "b", name="other")
    assert tls_files(None, None) is None
    assert tls_files(str(cert), str(key)) == TlsFiles(str(cert), str(key))
    cases = {
        (str(cert), None): "--tls-cert needs --tls-key too",
        (None, str(key)): "--tls-key needs --tls-cert too",
        (str(tmp_path / "none.pem"), str(key)): "no such file",
        (str(other_cert), str(key)): "cannot use --tls-cert",
        (str(key), str(key)): "cannot use --tls-cert",
    }
    for (c, k), expected in cases.items():
        with pytest.raises(InvalidArgumentError, match=expected) as caught:
            tls_files(c, k)
        assert "\n" not in str(caught.value)


def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAYPACHY_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(InvalidArgumentError, match=r"RAYPACHY_CA_FILE=.*no such file"):
        Client("https://127.0.0.1:1")


def test_serving_beyond_loopback_without_tls_warns_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from raypachy.runtime.cluster import start_control_plane

    monkeypatch.setenv("RAYPACHY_TOKEN", TOKEN)
    with pytest.raises(InvalidArgumentError):  # stops before Ray: no front doors given
        start_control_plane("auto", str(tmp_path), "memory://", host="0.0.0.0", doors=None)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "plain http" in lines[0] and "--tls-cert" in lines[0]
    cert, key = self_signed(tmp_path / "tls")
    with pytest.raises(InvalidArgumentError):
        start_control_plane("auto", str(tmp_path), "memory://", host="0.0.0.0", doors=None,
                            tls=tls_files(str(cert), str(key)))  # fmt: skip
    assert capsys.readouterr().err == ""
