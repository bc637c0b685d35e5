"""Writer leases: a lapsed lease is dead for good, and heartbeats survive transient errors."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from raypachy.errors import InvalidPathError, LeaseExpiredError
from raypachy.pfs import PFS, leases
from raypachy.storage import FileSetWriter


def test_heartbeat_fails_on_unknown_and_lapsed_leases(
    pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LeaseExpiredError, match="expired or is unknown"):
        pfs.leases.heartbeat("0" * 32)
    monkeypatch.setattr(leases, "LEASE_TTL_S", 1.5)
    lease = pfs.leases.acquire(host="laptop", pid=4242)
    pfs.leases.heartbeat(lease)
    time.sleep(2.0)  # silent for longer than the TTL
    with pytest.raises(LeaseExpiredError):
        pfs.leases.heartbeat(lease)


def test_a_layer_written_under_a_lapsed_lease_is_not_committed(
    pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 0.5)
    pfs.create_repo("r")
    lease = pfs.leases.acquire(host="laptop", pid=4242)
    writer = FileSetWriter(pfs.chunks, pfs.manifests)
    writer.put("/big", b"precious " * 200_000)
    layer = writer.close()
    time.sleep(0.8)
    pfs.gc()  # drops the lapsed lease and collects the chunks written under it
    with pytest.raises(LeaseExpiredError):
        pfs.commits.commit_layer("r", "master", layer, lease)
    assert pfs.list_branches("r") == []  # nothing half-written became visible


def test_a_lease_of_an_api_caller_ends_at_its_bound(
    pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 60.0)
    lease = pfs.leases.acquire(host="api-caller:10.0.0.9", pid=0, max_s=1.5)
    pfs.leases.heartbeat(lease)
    time.sleep(2.0)
    with pytest.raises(LeaseExpiredError):
        pfs.leases.heartbeat(lease)  # heartbeats cannot keep it past its bound
    pfs.gc()  # and gc is not kept out


def test_beat_until_retries_transient_errors_and_reports_a_lost_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 3.0)  # beats every 0.5 s
    calls: list[str] = []
    lost: list[str] = []
    done = threading.Event()

    def beat() -> None:
        calls.append("beat")
        if len(calls) <= 3:
            raise OSError("database is locked")  # transient: retried
        if len(calls) >= 6:
            raise LeaseExpiredError("write lease x expired or is unknown")

    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: (leases.beat_until(stop, beat, lost.append), done.set())
    )
    thread.start()
    assert done.wait(30)
    stop.set()
    assert len(calls) == 6 and lost == ["write lease x expired or is unknown"]


def test_beat_until_gives_up_after_a_whole_ttl_of_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 0.6)
    lost: list[str] = []

    def beat() -> None:
        raise ConnectionError("metadata actor unreachable")

    leases.beat_until(threading.Event(), beat, lost.append)  # returns once the TTL is spent
    assert len(lost) == 1 and "no heartbeat got through" in lost[0]


def test_finishing_with_a_layer_stages_it_in_one_write_under_the_callers_lease(
    pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/dir/a", b"a")
    lease = pfs.leases.acquire(host="laptop", pid=4242)

    def layer_of(path: str, data: bytes) -> Any:
        writer = FileSetWriter(pfs.chunks, pfs.manifests)
        writer.put(path, data)
        return writer.close()

    clash = layer_of("/dir", b"a file where a directory is")
    commit = pfs.start_commit("r@master")
    with pytest.raises(InvalidPathError, match="is a directory"):  # checked as stage does
        pfs.commits.finish("r", commit.id, layer=clash, lease_id=lease)
    assert pfs.inspect_commit(f"r@{commit.id}").finished is None

    before = pfs.meta.change_version()
    done = pfs.commits.finish("r", commit.id, layer=layer_of("/b", b"bb"), lease_id=lease)
    assert pfs.meta.change_version() == before + 1  # one write: no stage, no lease of its own
    assert done.finished is not None and done.staged == ()
    assert pfs.get_file(f"r@{commit.id}", "/b") == b"bb"
    assert pfs.get_file(f"r@{commit.id}", "/dir/a") == b"a"

    monkeypatch.setattr(leases, "LEASE_TTL_S", 0.5)
    lapsed = pfs.leases.acquire(host="laptop", pid=4243)
    layer = layer_of("/c", b"c")
    time.sleep(0.8)
    other = pfs.start_commit("r@master")
    with pytest.raises(LeaseExpiredError):
        pfs.commits.finish("r", other.id, layer=layer, lease_id=lapsed)
    assert pfs.inspect_commit(f"r@{other.id}").finished is None  # nothing became visible
    assert [f.path for f in pfs.list_files(f"r@{other.id}")] == ["/b", "/dir/"]
