"""`raypachy up` over TLS: the API and the S3 gateway speak https through the real actors,
and clients verify them with RAYPACHY_CA_FILE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.certs import self_signed
from tests.conftest import start_cluster

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_up_serves_https_and_clients_verify_it(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    env = {"RAYPACHY_TLS_CERT": str(cert), "RAYPACHY_TLS_KEY": str(key),
           "RAYPACHY_CA_FILE": str(cert)}  # fmt: skip
    cluster = start_cluster(tmp_path / "home", env)
    try:
        state = json.loads((tmp_path / "home" / "cluster.json").read_text())
        assert state["api_url"].startswith("https://127.0.0.1:")
        assert state["s3_url"].startswith("https://127.0.0.1:")
        cluster.cli("create", "repo", "tls")
        cluster.cli("put", "file", "tls@master:/a.txt", "-f", "-", stdin=b"secure")
        assert cluster.cli("get", "file", "tls@master:/a.txt").stdout == b"secure"
        status = json.loads(cluster.cli("status", "-o", "json").stdout)
        assert status["running"] is True and status["api_url"] == state["api_url"]
        # Without the CA, the client refuses the server in one line and sends no token.
        cluster.env.pop("RAYPACHY_CA_FILE")
        refused = cluster.cli("list", "repo", code=1).stderr.decode().strip()
        assert len(refused.splitlines()) == 1, refused
        assert "presented a certificate this client does not trust" in refused
        assert "RAYPACHY_CA_FILE" in refused
    finally:
        cluster.cli("down", timeout=120)
