"""Listings a page at a time: every page of every list verb, and the cursor between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import raypachy
from raypachy import errors
from raypachy.client import Client
from raypachy.limits import PAGE_SIZE
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.pps.conftest import Local


@raypachy.pipeline(input=raypachy.pfs("s", glob="/*"), name="p")
def copy(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_bytes(f.read_bytes())


@pytest.fixture
def local(tmp_path: Path) -> Local:
    return Local(tmp_path / "home")


@pytest.fixture
def api(local: Local) -> TestClient:
    app = create_app(LocalService(local.pachd), local.pfs.backend.uri)
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


@pytest.fixture
def client(api: TestClient) -> Client:
    c = Client("http://testserver")
    c._transport.http = api  # the real client code over the in-process app
    return c


def _tree(pfs: PFS) -> None:
    """Files and directories whose names sort around each other ('.' < '/' < '0'), in
    several layers, with a directory deleted in a later layer."""
    pfs.create_repo("r")
    with pfs.modify("r@master") as m:
        for p in ("/a.txt", "/a/x", "/a/y/z", "/a0", "/b/c/d/e", "/b/f", "/gone/1", "/gone/2"):
            m.put(p, p.encode())
    with pfs.modify("r@master") as m:
        m.delete("/gone/")
        m.put("/a/w", b"w")
        m.put("/c", b"c")


def _pages(fetch: Any, limit: int, cursor: Any) -> list[Any]:
    """Every entry, fetched ``limit`` at a time after the previous page's last entry."""
    out: list[Any] = []
    after = None
    while True:
        page = fetch(limit, after)
        assert len(page) <= limit
        out += page
        if len(page) < limit:
            return out
        after = cursor(page[-1])


@pytest.mark.parametrize("path", ["/", "/a", "/b", "/b/c"])
def test_list_files_pages_add_up_to_the_listing(local: Local, path: str) -> None:
    _tree(local.pfs)
    whole = local.pfs.list_files("r@master", path)
    for limit in range(1, len(whole) + 2):
        paged = _pages(
            lambda n, a: local.pfs.list_files("r@master", path, n, a), limit, lambda f: f.path
        )
        assert paged == whole


@pytest.mark.parametrize("pattern", ["/**", "/*", "/a/*", "/*/*", "/b/**", "/[ab]*", "/c"])
def test_glob_pages_add_up_to_the_matches(local: Local, pattern: str) -> None:
    _tree(local.pfs)
    whole = local.pfs.glob_files("r@master", pattern)
    assert whole == sorted(whole, key=lambda f: f.path)
    for limit in range(1, len(whole) + 2):
        paged = _pages(
            lambda n, a: local.pfs.glob_files("r@master", pattern, n, a), limit, lambda f: f.path
        )
        assert paged == whole  # directories complete, with their whole size, on every page


def test_refs_commits_jobs_and_datums_page_through_the_api(local: Local, client: Client) -> None:
    _tree(local.pfs)
    local.pfs.create_repo("s")
    local.create(copy)
    for i in range(5):  # five commits, five jobs; the last one has five datums
        local.put("s", {f"/f{i}": b"x"})
        local.run()
    checks: list[tuple[Any, Any]] = [
        (lambda **kw: client.list_commits("s", "master", **kw), lambda c: f"s@{c.id}"),
        (lambda **kw: client.list_commits("s", **kw), lambda c: f"s@{c.id}"),
        (lambda **kw: client.list_commits(**kw), lambda c: f"{c.repo}@{c.id}"),
        (lambda **kw: client.list_jobs("p", **kw), lambda j: f"p@{j.id}"),
        (lambda **kw: client.list_jobs(**kw), lambda j: f"{j.pipeline}@{j.id}"),
        (lambda **kw: client.list_datums("p", **kw), lambda d: d.id),
    ]
    for listing, cursor in checks:
        whole = listing()
        assert len(whole) >= 5
        for limit in (1, 2, 3, len(whole)):
            assert listing(limit=limit) == whole[:limit]
            assert _pages(lambda n, a: listing(limit=n, start_after=a), limit, cursor) == whole  # noqa: B023
    refs = client.walk_data("r@master", "/")
    assert [p for p, _ in refs] == [p for p, _ in local.pfs.walk_data("r@master", "/")]
    # The next page of the latest job's datums names that job: "latest" may change meanwhile.
    [job] = client.list_jobs("p", limit=1)
    first = client._transport.http.get("/v1/jobs/p/latest/datums", params={"limit": 2})
    assert first.links["next"]["url"].startswith(f"/v1/jobs/p/{job.id}/datums?")


def test_the_server_answers_a_page_and_a_next_link(local: Local, api: TestClient) -> None:
    local.pfs.create_repo("r")
    with local.pfs.modify("r@master") as m:
        for i in range(5):
            m.put(f"/d/{i}", b"x")
    first = api.get("/v1/files", params={"target": "r@master", "path": "/d", "limit": 2})
    assert [f["path"] for f in first.json()] == ["/d/0", "/d/1"]
    nxt = first.links["next"]["url"]
    assert nxt.startswith("/v1/files?") and "start_after=%2Fd%2F1" in nxt and "limit=2" in nxt
    second = api.get(nxt)
    assert [f["path"] for f in second.json()] == ["/d/2", "/d/3"]
    last = api.get(second.links["next"]["url"])
    assert [f["path"] for f in last.json()] == ["/d/4"] and "next" not in last.links
    too_big = api.get("/v1/files", params={"target": "r@master", "path": "/d", "limit": 10**9})
    assert too_big.status_code == 200 and len(too_big.json()) == 5
    bad = api.get("/v1/files", params={"target": "r@master", "path": "/d", "limit": 0})
    assert bad.status_code == 400
    gone = api.get("/v1/commits", params={"repo": "r", "start_after": "r@" + "0" * 32})
    assert gone.status_code == 404 and "to list after not found" in gone.json()["message"]


def test_a_big_directory_is_never_one_response(
    local: Local, client: Client, api: TestClient
) -> None:
    local.pfs.create_repo("big")
    n = PAGE_SIZE + 5
    with local.pfs.modify("big@master") as m:
        for i in range(n):
            m.put(f"/d/{i:06}", b"")
    for url, params in (
        ("/v1/files", {"target": "big@master", "path": "/d"}),
        ("/v1/files/glob", {"target": "big@master", "pattern": "/d/*"}),
        ("/v1/files/refs", {"target": "big@master", "path": "/"}),
    ):
        r = api.get(url, params=params)
        assert r.status_code == 200 and len(r.json()) == PAGE_SIZE and "next" in r.links, url
        assert len(api.get(r.links["next"]["url"]).json()) == 5
    # The client follows the pages: the whole listing, as before.
    assert len(client.list_files("big@master", "/d")) == n
    assert len(client.glob_files("big@master", "/d/*")) == n
    assert len(client.walk_data("big@master", "/d")) == n
    assert [f.path for f in client.list_files("big@master", "/d", limit=3)] == [
        "/d/000000", "/d/000001", "/d/000002"
    ]  # fmt: skip
    assert [f.path for f in client.list_files("big@master", "/d", start_after="/d/010003")] == [
        "/d/010004"
    ]
    with pytest.raises(errors.PathNotFoundError):
        client.list_files("big@master", "/nothing", start_after="/nothing/x")
