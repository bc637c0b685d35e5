"""Waits hold no thread: many waiters, an unrelated request still answers, a cap per client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from raypachy.client import Client
from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.pfs.metadata import RepoRecord, open_store
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.conftest import LocalCluster
from tests.serving import serve


@dataclass
class Served:
    url: str
    pfs: PFS
    pachd: Pachd


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The real app over real HTTP (uvicorn on 127.0.0.1, on a thread of this process)."""
    pfs = PFS.open(str(tmp_path / "home"))
    pachd = Pachd(pfs)
    with serve(create_app(LocalService(pachd), pfs.backend.uri)) as url:
        yield Served(url, pfs, pachd)


def _waits(url: str, headers: dict[str, str] | None = None) -> int:
    return int(httpx.get(url + "/v1/status", headers=headers, timeout=10).json()["api"]["waits"])


def _until(what: str, check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_many_waiters_hold_no_thread(served: Served) -> None:
    served.pfs.create_repo("w")
    commit = served.pfs.start_commit("w@master")
    n = 50  # more than the server's pool of worker threads (40)

    def wait() -> httpx.Response:
        body = {"target": f"w@{commit.id}", "timeout": 25}
        return httpx.post(served.url + "/v1/commits/wait", json=body, timeout=60)

    with ThreadPoolExecutor(n) as pool:
        waiting = [pool.submit(wait) for _ in range(n)]
        _until(f"{n} waits held by the server", lambda: _waits(served.url) == n)
        # An unrelated request answers while they all wait (before: it queued behind them).
        repos = httpx.get(served.url + "/v1/repos", timeout=5)
        assert repos.status_code == 200 and [r["name"] for r in repos.json()] == ["w"]
        assert not any(f.done() for f in waiting)
        served.pfs.finish_commit(f"w@{commit.id}")  # one change wakes every waiter
        answers = [f.result(timeout=20) for f in waiting]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["finished"] is not None for a in answers} == {True}
    assert _waits(served.url) == 0


def test_one_client_may_hold_only_so_many_waits(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_MAX_WAITS_PER_CLIENT", "3")
    served.pfs.create_repo("w")
    commit = served.pfs.start_commit("w@master")
    body = {"target": f"w@{commit.id}", "timeout": 20}
    with ThreadPoolExecutor(3) as pool:
        held = [
            pool.submit(httpx.post, served.url + "/v1/commits/wait", json=body, timeout=60)
            for _ in range(3)
        ]
        _until("3 waits", lambda: _waits(served.url) == 3)
        extra = httpx.post(served.url + "/v1/commits/wait", json=body, timeout=10)
        assert extra.status_code == 429
        assert extra.json() == {
            "code": "too_many_requests",
            "type": "TooManyRequestsError",
            "message": "client 127.0.0.1 already holds 3 waits (RAYPACHY_MAX_WAITS_PER_CLIENT): "
            "let some end first",
        }
        served.pfs.finish_commit(f"w@{commit.id}")
        assert [f.result(timeout=20).status_code for f in held] == [200] * 3
    again = httpx.post(served.url + "/v1/commits/wait", json=body, timeout=10)
    assert again.status_code == 200  # the slots came back


def test_waits_end_on_time_and_on_the_change(served: Served) -> None:
    served.pfs.create_repo("w")
    commit = served.pfs.start_commit("w@master")
    late = httpx.post(
        served.url + "/v1/commits/wait", json={"target": f"w@{commit.id}", "timeout": 0.5}
    )
    assert late.status_code == 504
    assert late.json()["message"] == f"commit w@{commit.id} is still open after 0.5s"
    client = Client(served.url)
    seen: list[str] = []

    def follow() -> None:
        for c in client.subscribe_commits("w", "master", timeout=20):
            seen.append(c.id)
            return

    follower = threading.Thread(target=follow)
    follower.start()
    _until("the subscription's long poll", lambda: _waits(served.url) == 1)
    served.pfs.finish_commit(f"w@{commit.id}")
    follower.join(20)
    assert seen == [commit.id]
    # A commit set's wait is woken by its commit too.
    other = served.pfs.start_commit("w@master")
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(client.wait_commit_set, other.id, 20)
        _until("the commit set's wait", lambda: _waits(served.url) == 1)
        served.pfs.finish_commit(f"w@{other.id}")
        assert [c.id for c in done.result(timeout=20)] == [other.id]
    client.close()


def test_writes_from_another_process_wake_waiters(tmp_path: Path) -> None:
    db = str(tmp_path / "metadata.db")
    here, there = open_store(db), open_store(db)  # two processes' views of one database
    since = here.change_version()
    assert here.wait_change(since, 0) == since  # nothing changed: the timeout answers
    woken: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        here.wait_change(since, 20)
        woken.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    with there.write() as tx:
        tx.insert_repo(RepoRecord("r", time.time(), ""))
    waiter.join(20)
    assert woken and woken[0] < 10  # seen through SQLite's data_version, not at the timeout


@pytest.mark.ray
def test_waiters_on_the_cluster_leave_the_metadata_actor_free(local_cluster: LocalCluster) -> None:
    client = local_cluster.client()
    repo = f"waits{time.monotonic_ns() % 10**8}"
    client.create_repo(repo)
    commit = client.start_commit(f"{repo}@master")
    url = local_cluster.api_url
    auth = {"Authorization": f"Bearer {local_cluster.token}"}  # the home's token, as a user's
    n = 40  # more than the metadata actor's 32 threads

    def wait() -> httpx.Response:
        body = {"target": f"{repo}@{commit.id}", "timeout": 25}
        return httpx.post(url + "/v1/commits/wait", json=body, headers=auth, timeout=60)

    with ThreadPoolExecutor(n) as pool:
        waiting = [pool.submit(wait) for _ in range(n)]
        _until(f"{n} waits", lambda: _waits(url, auth) >= n)
        # Operations that need the actor's threads still run: a write and a read.
        other = f"{repo}x"
        client.create_repo(other)
        assert other in [r.name for r in client.list_repos()]
        assert not any(f.done() for f in waiting)
        client.finish_commit(f"{repo}@{commit.id}")
        assert {f.result(timeout=30).status_code for f in waiting} == {200}
    client.delete_repo(other)
    client.delete_repo(repo)
