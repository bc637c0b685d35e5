from __future__ import annotations

import os
import threading
import time

import pytest

from raypachy.errors import GCBusyError
from raypachy.pfs import PFS, GCReport, leases
from raypachy.pfs.metadata import open_store
from raypachy.storage.manifest import manifest_key


def test_gc_reclaims_deleted_commits_and_keeps_the_rest(pfs: PFS) -> None:
    pfs.create_repo("r")
    keep = os.urandom(3 << 20)
    drop = os.urandom(3 << 20)
    pfs.put_file("r@master", "/keep", keep)
    c2 = pfs.put_file("r@master", "/drop", drop)
    chunks_before = len(list(pfs.backend.list("chunks/")))
    pfs.delete_commit(c2.id)
    report = pfs.gc()
    assert report.chunks_deleted >= 1  # 3 MiB of random bytes: one or more chunks
    assert len(list(pfs.backend.list("chunks/"))) == chunks_before - report.chunks_deleted
    assert pfs.get_file("r@master", "/keep") == keep
    assert pfs.gc().chunks_deleted == 0  # nothing left to collect


def test_gc_keeps_everything_every_commit_references(pfs: PFS) -> None:
    pfs.create_repo("r")
    contents = {}
    for i in range(6):
        data = os.urandom(200_000 + i)
        pfs.put_file("r@master", f"/f{i}", data)
        contents[f"/f{i}"] = data
    pfs.delete_file("r@master", "/f0")
    open_commit = pfs.start_commit("r@master")
    pfs.put_file("r@master", "/staged", b"staged bytes")
    pfs.gc()
    oldest_first = list(reversed(pfs.list_commits("r", "master")))
    assert len(oldest_first) == 8  # six puts, one delete, one open commit
    assert sorted(p for p, _ in pfs.walk_files(f"r@{oldest_first[6].id}")) == [
        f"/f{i}" for i in range(1, 6)
    ]
    for i, commit in enumerate(oldest_first[:6]):
        for j in range(i + 1):
            assert pfs.get_file(f"r@{commit.id}", f"/f{j}") == contents[f"/f{j}"]
    assert pfs.get_file(f"r@{open_commit.id}", "/staged") == b"staged bytes"


def test_gc_refuses_while_a_writer_is_in_flight(pfs: PFS) -> None:
    pfs.create_repo("r")
    with pfs.modify("r@master") as m:
        m.put("/a", b"a")
        with pytest.raises(GCBusyError, match="writer"):
            pfs.gc()
    assert pfs.gc().chunks_kept >= 1


def _hold_gc(pfs: PFS) -> tuple[threading.Thread, threading.Event, threading.Event, list[object]]:
    """gc on a thread, held just before its first delete: (thread, held, resume, outcome)."""
    held, resume = threading.Event(), threading.Event()
    outcome: list[object] = []

    def pause(_phase: str) -> None:
        held.set()
        resume.wait(60)

    def run() -> None:
        try:
            outcome.append(pfs.gc(on_phase=pause))
        except Exception as e:
            outcome.append(e)
        finally:
            held.set()

    thread = threading.Thread(target=run, name="gc")
    thread.start()
    assert held.wait(60)
    return thread, held, resume, outcome


def test_a_gc_longer_than_the_lease_ttl_keeps_writers_out(
    pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 2.0)  # stands for the real 120 s
    pfs.create_repo("r")
    pfs.put_file("r@master", "/old", b"old")
    waiting = threading.Event()
    pfs.leases.on_wait = waiting.set
    gc, _, resume, outcome = _hold_gc(pfs)
    written: list[object] = []
    writer = threading.Thread(target=lambda: written.append(pfs.put_file("r@master", "/new",
                                                                          b"new" * 1000)))  # fmt: skip
    writer.start()
    assert waiting.wait(30)  # the writer waits for gc ...
    time.sleep(5.0)  # ... for longer than two TTLs: gc renews its lock meanwhile
    assert not written and writer.is_alive()
    resume.set()
    gc.join(60)
    writer.join(60)
    assert isinstance(outcome[0], GCReport) and written
    fresh = PFS(open_store(pfs.meta.location), pfs.backend.uri)
    assert fresh.get_file("r@master", "/new") == b"new" * 1000
    assert fresh.fsck().ok


def test_gc_that_lost_its_lock_deletes_nothing_more(
    pfs: PFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_TTL_S", 2.0)
    pfs.create_repo("r")
    pfs.put_file("r@master", "/keep", b"keep")
    doomed = pfs.put_file("r@master", "/garbage", os.urandom(2 << 20))
    pfs.delete_commit(doomed.id)  # its manifests and chunks are now garbage
    garbage_before = set(pfs.backend.list("chunks/")) | set(pfs.backend.list("manifests/"))
    renew = leases.GCLock.renew
    monkeypatch.setattr(leases.GCLock, "renew", lambda self: None)  # gc stalls: no renewals
    gc, _, resume, outcome = _hold_gc(pfs)
    pfs.put_file("r@master", "/new", b"written while gc was stalled")  # gets in: lock is stale
    monkeypatch.setattr(leases.GCLock, "renew", renew)
    resume.set()
    gc.join(60)
    assert isinstance(outcome[0], GCBusyError) and "stopped early" in str(outcome[0])
    assert garbage_before <= set(pfs.backend.list("chunks/")) | set(pfs.backend.list("manifests/"))
    assert pfs.get_file("r@master", "/new") == b"written while gc was stalled"
    assert pfs.gc().chunks_deleted >= 1  # the next gc collects the garbage


def test_gc_survives_a_missing_manifest_and_keeps_every_chunk(pfs: PFS) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/a", os.urandom(2 << 20))
    pfs.create_repo("gone")
    pfs.put_file("gone@master", "/x", os.urandom(2 << 20))
    pfs.delete_repo("gone")  # garbage: its manifest and chunks
    victim = pfs._record("r@master").layers[0].id
    pfs.backend.delete(manifest_key(victim))  # lost (the kind of damage finding 1 did)
    chunks_before = set(pfs.backend.list("chunks/"))
    restarted = PFS(open_store(pfs.meta.location), pfs.backend.uri)  # no cached manifests
    report = restarted.gc()
    assert report.unreadable_manifests == 1
    assert report.chunks_deleted == 0 and set(pfs.backend.list("chunks/")) == chunks_before
    assert report.manifests_deleted >= 1  # the deleted repo's manifest is still collected
    assert any(p.kind == "manifest" and p.subject == victim for p in restarted.fsck().problems)
