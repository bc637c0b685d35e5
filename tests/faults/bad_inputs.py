"""The bad-input table: malformed specs, names, paths and addresses sent to the HTTP API.

Each case must get a 4xx with a one-line JSON error, and leave the installation exactly as
it was (metadata and stored objects). Used by the test suite and by bench/reliability.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService

COMMIT = "0" * 32


def _spec(name: str = "bad", **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "raw", "glob": "/*"}},
        "transform": {"cmd": ["true"]},
    }
    spec.update(fields)
    return spec


LOCAL = "http://127.0.0.1"  # what a local client names the API (other Host names are refused)
RAW = {"Content-Type": "application/octet-stream"}


def _pipeline(spec: Any, update: bool = False) -> tuple[str, str, dict[str, Any]]:
    return ("POST", "/v1/pipelines", {"json": {"spec": spec, "update": update}})


def _upload(target: str, path: str) -> tuple[str, str, dict[str, Any]]:
    return (
        "POST",
        "/v1/files/upload",
        {"params": {"target": target, "path": path}, "content": b"bytes", "headers": RAW},
    )


def _files(target: str, path: str = "/") -> tuple[str, str, dict[str, Any]]:
    return ("GET", "/v1/files", {"params": {"target": target, "path": path}})


_SQL_NO_SECRET = {
    "sql_database": {"url": "postgresql://h/d", "secret": {"name": "absent", "key": "pw"}}
}

# label -> (method, url, request keyword arguments)
# fmt: off
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    # pipeline specs
    "spec: not an object": _pipeline([1, 2]),
    "spec: unknown field": _pipeline(_spec(inptu={})),
    "spec: wrong type (cmd as a string)": _pipeline(_spec(transform={"cmd": "echo hi"})),
    "spec: wrong type (parallelism)": _pipeline(_spec(parallelism_spec={"constant": "many"})),
    "spec: negative parallelism": _pipeline(_spec(parallelism_spec={"constant": -2})),
    "spec: no name": _pipeline({k: v for k, v in _spec().items() if k != "pipeline"}),
    "spec: invalid pipeline name": _pipeline(_spec("no spaces please")),
    "spec: no input": _pipeline({k: v for k, v in _spec().items() if k != "input"}),
    "spec: empty transform": _pipeline(_spec(transform={})),
    "spec: egress to an unknown scheme": _pipeline(_spec(egress={"URL": "ftp://host/x"})),
    "spec: egress of two kinds": _pipeline(
        _spec(egress={"URL": "file:///x", "sql_database": {"url": "postgresql://h/d"}})
    ),
    "spec: egress password from a missing secret": _pipeline(_spec(egress=_SQL_NO_SECRET)),
    "request: run cron of no pipeline": ("post", "/v1/pipelines/nope/cron", {}),
    "spec: missing input repo": _pipeline(_spec(input={"pfs": {"repo": "nope", "glob": "/*"}})),
    "spec: invalid glob": _pipeline(_spec(input={"pfs": {"repo": "raw", "glob": "/[a"}})),
    "spec: unclosed glob group": _pipeline(_spec(input={"pfs": {"repo": "raw", "glob": "/(a"}})),
    "spec: reads its own output": _pipeline(_spec(input={"pfs": {"repo": "bad", "glob": "/"}})),
    "spec: cycle through another pipeline": _pipeline(
        _spec("first", input={"pfs": {"repo": "second", "glob": "/"}}), update=True
    ),
    "spec: name of a user repo": _pipeline(_spec("other")),
    "spec: two input kinds at once": _pipeline(
        _spec(input={"pfs": {"repo": "raw", "glob": "/*"}, "cross": []})
    ),
    "spec: empty cross": _pipeline(_spec(input={"cross": []})),
    "spec: bad memory quantity": _pipeline(_spec(resource_requests={"memory": "lots"})),
    "spec: bad duration": _pipeline(_spec(datum_timeout="forever")),
    "spec: secret in env": _pipeline(
        _spec(transform={"cmd": ["true"], "env": {"AWS_SECRET_ACCESS_KEY": "x"}})
    ),
    "spec: update of a pipeline that does not exist": _pipeline(_spec("ghost"), update=True),
    "spec: create over an existing pipeline": _pipeline(
        _spec("first", input={"pfs": {"repo": "raw", "glob": "/"}})
    ),
    # names
    "name: repo with a space": ("POST", "/v1/repos", {"json": {"name": "bad name"}}),
    "name: repo with a slash": ("POST", "/v1/repos", {"json": {"name": "a/b"}}),
    "name: repo too long": ("POST", "/v1/repos", {"json": {"name": "a" * 500}}),
    "name: repo non-ASCII": ("POST", "/v1/repos", {"json": {"name": "résumé"}}),
    "name: repo empty": ("POST", "/v1/repos", {"json": {"name": ""}}),
    "name: repo of wrong type": ("POST", "/v1/repos", {"json": {"name": 7}}),
    "name: existing repo": ("POST", "/v1/repos", {"json": {"name": "raw"}}),
    "name: branch with a space": ("PUT", "/v1/repos/raw/branches/b c", {"json": {}}),
    "name: branch like a commit id": ("PUT", f"/v1/repos/raw/branches/{'a' * 32}", {"json": {}}),
    "name: branch on a missing commit": (
        "PUT",
        "/v1/repos/raw/branches/b1",
        {"json": {"head": COMMIT}},
    ),
    # paths
    "path: relative": _upload("raw@master", "relative.txt"),
    "path: dot-dot": _upload("raw@master", "/a/../../etc/passwd"),
    "path: NUL byte": _upload("raw@master", "/a\x00b"),
    "path: empty": _upload("raw@master", ""),
    "path: root": _upload("raw@master", "/"),
    "path: too long": _upload("raw@master", "/" + "a" * 5000),
    "path: name too long": _upload("raw@master", "/" + "b" * 300),
    "path: file over a directory": _upload("raw@master", "/dir"),
    "path: read outside the repo": (
        "GET",
        "/v1/files/content",
        {"params": {"target": "raw@master", "path": "/../x"}},
    ),
    # addresses
    "address: empty": _files(""),
    "address: double at": _files("raw@@master"),
    "address: bad ancestry": _files("raw@master^x"),
    "address: missing repo": _files("nope@master"),
    "address: missing branch": _files("raw@nope"),
    "address: missing commit": _files(f"raw@{COMMIT}"),
    "address: too far back": _files("raw@master^99"),
    "address: upload to a commit id": _upload(f"raw@{COMMIT}", "/x"),
    "address: provenance to a missing commit": (
        "POST",
        "/v1/commits/start",
        {"json": {"target": "raw@master", "provenance": [{"repo": "nope", "id": COMMIT}]}},
    ),
    # requests
    "request: body is not JSON": (
        "POST",
        "/v1/repos",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ),
    "request: negative wait timeout": (
        "POST",
        "/v1/commits/wait",
        {"json": {"target": "raw@master", "timeout": -1}},
    ),
    "request: manifest id outside the store": (
        "POST",
        "/v1/layers",
        {"json": {"target": "raw@master", "manifest_id": "../../etc/passwd", "lease_id": "x"}},
    ),
    "request: finish a finished commit": (
        "POST",
        "/v1/commits/finish",
        {"json": {"target": "raw@master"}},
    ),
}


@dataclass
class Installation:
    """A fresh installation with a little of everything, in this process."""

    pfs: PFS
    api: TestClient

    def snapshot(self) -> dict[str, Any]:
        """Everything a rejected request must leave alone."""
        with self.pfs.meta.read() as tx:
            repos, pipelines = tx.repos(), tx.pipelines()
            tables = {
                "repos": repos,
                "branches": [b for r in repos for b in tx.branches(r.name)],
                "commits": tx.commits(),  # with their provenance
                "pipelines": pipelines,
                "pipeline_versions": [v for p in pipelines for v in tx.versions(p.name)],
                "jobs": tx.jobs(),
                "datum_state": [s for p in pipelines for s in tx.datum_states(p.name)],
            }
        return {"tables": tables, "objects": sorted(self.pfs.backend.list(""))}


@contextmanager
def installation(home: Path) -> Iterator[Installation]:
    pfs = PFS.open(str(home))
    api = TestClient(create_app(LocalService(Pachd(pfs)), pfs.backend.uri),
                     base_url=LOCAL, raise_server_exceptions=False)
    api.post("/v1/repos", json={"name": "raw"}).raise_for_status()
    api.post("/v1/repos", json={"name": "other"}).raise_for_status()
    api.post("/v1/files/upload", params={"target": "raw@master", "path": "/dir/a.csv"},
             content=b"1,2\n", headers=RAW).raise_for_status()
    for name, repo in (("first", "raw"), ("second", "first")):
        spec = _spec(name, input={"pfs": {"repo": repo, "glob": "/"}})
        api.post("/v1/pipelines", json={"spec": spec}).raise_for_status()
    with api:
        yield Installation(pfs, api)


def check_case(inst: Installation, label: str) -> str:
    """Send one bad request; returns "" when it was rejected cleanly, else what went wrong."""
    method, url, kwargs = CASES[label]
    before = inst.snapshot()
    reply = inst.api.request(method, url, **kwargs)
    problems = []
    if not 400 <= reply.status_code < 500:
        problems.append(f"status {reply.status_code}")
    try:
        body = reply.json()
    except json.JSONDecodeError:
        body = {}
    message = body.get("message", "") if isinstance(body, dict) else ""
    if not message or "\n" in message or "Traceback" in message or len(message) > 400:
        problems.append(f"unclear error {reply.text[:200]!r}")
    if inst.snapshot() != before:
        problems.append("state changed")
    return "; ".join(problems)
