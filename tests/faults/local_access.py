"""What a hostile web page or another local user tries against the local API, sent for real.

Shared by the test suite (against the session's `raypachy up` cluster) and
bench/reliability.py. Each check sends the request and reports whether the API refused it
and changed nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from raypachy.client import Client
from raypachy.errors import UnavailableError
from tests.squatter import squatting_server


@dataclass(frozen=True)
class AccessCheck:
    label: str
    status: int  # what the API answered
    expected: int
    changed: bool  # whether the refused request changed anything

    @property
    def refused(self) -> bool:
        return self.status == self.expected and not self.changed


def run_access_checks(url: str, token: str) -> list[AccessCheck]:
    """Send each attack to the API at ``url`` (whose token is ``token``)."""
    port = httpx.URL(url).port
    auth = {"Authorization": f"Bearer {token}"}
    repo = "access" + uuid.uuid4().hex[:8]
    checks = []
    with httpx.Client(base_url=url, timeout=30) as http:

        def repos() -> list[str]:
            return [r["name"] for r in http.get("/v1/repos", headers=auth).json()]

        def commits() -> int:
            return len(http.get("/v1/commits", params={"repo": repo}, headers=auth).json())

        http.post("/v1/repos", json={"name": repo}, headers=auth).raise_for_status()
        before = repos()
        # DNS rebinding: the page's own name, pointed at 127.0.0.1 (even holding the token).
        r = http.post("/v1/pipelines", headers={**auth, "Host": f"rebind.attacker.example:{port}"},
                      json={"spec": {"pipeline": {"name": repo + "x"}, "transform": {"cmd": ["id"]},
                                     "input": {"pfs": {"repo": repo, "glob": "/"}}}})  # fmt: skip
        checks.append(AccessCheck("foreign Host refused", r.status_code, 403, repos() != before))
        # A cross-site request from a page of another origin.
        r = http.post("/v1/repos", json={"name": repo + "o"},
                      headers={**auth, "Origin": "https://evil.example"})  # fmt: skip
        checks.append(AccessCheck("foreign Origin refused", r.status_code, 403, repos() != before))
        # A simple request (no CORS preflight): text/plain body to a raw-body route.
        r = http.post("/v1/files/upload", params={"target": f"{repo}@master", "path": "/run.sh"},
                      content=b"#!/bin/sh\necho owned\n",
                      headers={**auth, "Content-Type": "text/plain"})  # fmt: skip
        checks.append(AccessCheck("text/plain POST refused", r.status_code, 415, commits() != 0))
        # Another local user, who cannot read the home's token.
        r = http.post("/v1/repos", json={"name": repo + "t"})
        checks.append(
            AccessCheck("tokenless local request refused", r.status_code, 401, repos() != before)
        )
        http.delete(f"/v1/repos/{repo}", headers=auth)
    return checks


def token_sent_to_squatter(home: Path) -> int:
    """How many requests carrying a token a client sent to a server squatting on the port."""
    with (
        squatting_server() as (port, seen),
        Client(f"http://127.0.0.1:{port}", home=home) as client,
        contextlib.suppress(UnavailableError),  # it refused to send the token: what we want
    ):
        client.list_repos()
    return sum(1 for line in seen if not line.endswith(" None"))
