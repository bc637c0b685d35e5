"""``raypachy auth``, run as a user runs it, against a served API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve

CLUSTER_TOKEN = "tok-cli-8d2e4f6a"
RAYPACHY = str(Path(sys.executable).with_name("raypachy"))


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    pfs = PFS.open(str(tmp_path / "home"))
    app = create_app(LocalService(Pachd(pfs)), pfs.backend.uri, token_hash(CLUSTER_TOKEN))
    with serve(app) as served:
        yield served


def run(
    url: str, home: Path, token: str, *args: str, code: int = 0
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAYPACHY_ADDRESS": url, "RAYPACHY_TOKEN": token,
           "RAYPACHY_HOME": str(home)}  # fmt: skip
    done = subprocess.run([RAYPACHY, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def test_auth_commands(url: str, tmp_path: Path) -> None:
    home = tmp_path / "client-home"
    assert "auth is not active" in run(url, home, CLUSTER_TOKEN, "auth", "whoami").stdout
    activated = run(url, home, CLUSTER_TOKEN, "auth", "activate")
    root = activated.stdout.strip()
    assert len(root) > 30 and "\n" not in root and "shown this once" in activated.stderr
    assert "You are pach:root" in run(url, home, root, "auth", "whoami").stdout
    run(url, home, root, "create", "repo", "images")
    alice = run(url, home, root, "auth", "create-token", "--user", "alice", "--ttl", "30d")
    alice_token = alice.stdout.strip()
    assert "token for user:alice (expires: 20" in alice.stderr
    denied = run(url, home, alice_token, "inspect", "repo", "images", code=1)
    assert "user:alice lacks repoReader on repo images" in denied.stderr
    assert len(denied.stderr.strip().splitlines()) == 1
    run(url, home, root, "auth", "set", "repo", "images", "repoReader", "user:alice")
    got = run(url, home, root, "auth", "get", "repo", "images").stdout
    assert "user:alice" in got and "repoReader" in got
    checked = run(url, home, alice_token, "auth", "check", "repo", "images").stdout
    assert "repoReader on repo images" in checked and "repo read" in checked
    run(url, home, alice_token, "inspect", "repo", "images")
    run(url, home, root, "auth", "set", "cluster", "clusterAdmin", "user:carol")
    bad = run(url, home, root, "auth", "set", "project", "other", "projectViewer", "user:a", code=1)
    assert "project 'other' does not exist" in bad.stderr
    run(url, home, root, "auth", "set", "repo", "images", "repoReader", "user:alice", "--remove")
    run(url, home, alice_token, "inspect", "repo", "images", code=1)
    audit = run(url, home, root, "auth", "audit", "--since", "1h").stdout
    assert "auth_set_role" in audit and "create_repo" in audit and "pach:root" in audit
    assert "revoked 1 token" in run(url, home, root, "auth", "revoke", "--user", "alice").stderr
    gone = run(url, home, alice_token, "auth", "whoami", code=1)
    assert "missing, unknown or revoked token" in gone.stderr or "could not prove" in gone.stderr
