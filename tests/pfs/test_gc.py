from __future__ import annotations

import os

import pytest

from raypachy.errors import GCBusyError
from raypachy.pfs import PFS


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
