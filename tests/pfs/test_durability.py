"""Manifests reach the disk before the metadata transaction that makes a commit use them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from raypachy.pfs import PFS
from raypachy.pfs.metadata import Tx


@pytest.fixture
def trace(pfs: PFS, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Storage puts and syncs, and metadata commits, in the order they happen."""
    steps: list[str] = []
    backend = pfs.backend
    put, sync, write = backend.put, backend.sync, pfs.meta.write

    def traced_put(key: str, data: bytes) -> None:
        steps.append("put " + key.split("/")[0])
        put(key, data)

    def traced_sync() -> None:
        steps.append("sync")
        sync()

    @contextmanager
    def traced_write() -> Iterator[Tx]:
        with write() as tx:
            yield tx
        steps.append("commit")

    monkeypatch.setattr(backend, "put", traced_put)
    monkeypatch.setattr(backend, "sync", traced_sync)
    monkeypatch.setattr(pfs.meta, "write", traced_write)  # every PFS part shares this store
    return steps


def _unsynced_at_commit(steps: list[str]) -> int:
    """The most manifests written but not yet synced when a metadata commit happened."""
    unsynced = worst = 0
    for step in steps:
        if step == "put manifests":
            unsynced += 1
        elif step == "sync":
            unsynced = 0
        elif step == "commit":
            worst = max(worst, unsynced)
    return worst


def test_finishing_syncs_its_manifests_once_before_committing(pfs: PFS, trace: list[str]) -> None:
    pfs.create_repo("r")
    with pfs.modify("r@master") as m:
        for i in range(4):
            m.put(f"/base{i}", b"b")
    commit = pfs.start_commit("r@master")
    for i in range(5):
        pfs.put_file(f"r@{commit.id}", f"/f{i}", b"x%d" % i)  # five staged layers
    trace.clear()
    pfs.finish_commit(f"r@{commit.id}")
    assert trace.count("put manifests") >= 2  # the fold, then a compaction
    assert _unsynced_at_commit(trace) == 0
    assert trace.count("sync") == 1  # one sync for the commit, not one per manifest


def test_a_one_shot_commit_syncs_its_compaction_before_committing(
    pfs: PFS, trace: list[str]
) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/a", b"a")
    trace.clear()
    pfs.put_file("r@master", "/b", b"b")  # its layer merges with the one below
    assert trace.count("put manifests") >= 2
    assert _unsynced_at_commit(trace) == 0
