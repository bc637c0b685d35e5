"""Writer leases: a lapsed lease is dead for good, and heartbeats survive transient errors."""

from __future__ import annotations

import threading
import time

import pytest

from raypachy.errors import LeaseExpiredError
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
