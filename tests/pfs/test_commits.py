from __future__ import annotations

import threading
import time

import pytest

from raypachy.errors import (
    CommitFinishedError,
    CommitNotFoundError,
    CommitOpenError,
    ConflictError,
    WaitTimeoutError,
)
from raypachy.pfs import PFS, CommitRef


def test_one_shot_puts_chain_commits(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    c2 = pfs.put_file("r@master", "/b", b"22")
    assert c1.parent is None and c2.parent == c1.id
    assert len(c1.id) == 32 and c1.finished is not None and c1.branch == "master"
    assert (c2.size_bytes, c2.file_count) == (3, 2)
    history = pfs.list_commits("r", "master")
    assert [c.id for c in history] == [c2.id, c1.id]
    assert pfs.inspect_commit("r@master^").id == c1.id
    assert pfs.inspect_commit(f"r@{c2.id}^1").id == c1.id


def test_ancestry_beyond_root(pfs: PFS) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/a", b"1")
    with pytest.raises(CommitNotFoundError, match="only 0 ancestor"):
        pfs.inspect_commit("r@master^1")
    with pytest.raises(CommitNotFoundError):
        pfs.inspect_commit("r@" + "f" * 32)


def test_open_commit_lifecycle(pfs: PFS) -> None:
    pfs.create_repo("r")
    base = pfs.put_file("r@master", "/keep", b"k")
    open_ = pfs.start_commit("r@master", description="batch")
    assert open_.finished is None and open_.parent == base.id
    assert pfs.inspect_branch("r", "master").head == open_.id
    pfs.put_file("r@master", "/x", b"x")  # goes into the open commit
    pfs.put_file(f"r@{open_.id}", "/y", b"yy")
    assert pfs.inspect_commit("r@master").finished is None
    assert {f.path for f in pfs.list_files("r@master")} == {"/keep", "/x", "/y"}
    done = pfs.finish_commit(f"r@{open_.id}")
    assert done.finished is not None and done.size_bytes == 4 and done.file_count == 3
    assert done.description == "batch"
    with pytest.raises(CommitFinishedError, match="already finished"):
        pfs.finish_commit(f"r@{open_.id}")
    with pytest.raises(CommitFinishedError, match="never changes"):
        pfs.put_file(f"r@{open_.id}", "/z", b"z")
    assert pfs.get_file("r@master", "/y") == b"yy"


def test_start_commit_on_open_branch_is_refused(pfs: PFS) -> None:
    pfs.create_repo("r")
    first = pfs.start_commit("r@master")
    with pytest.raises(CommitOpenError, match="finish it"):
        pfs.start_commit("r@master")
    pfs.finish_commit("r@master")
    assert pfs.start_commit("r@master").parent == first.id


def test_finish_with_error_and_empty_commit(pfs: PFS) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/a", b"abc")
    c = pfs.start_commit("r@master")
    done = pfs.finish_commit(f"r@{c.id}", error="upstream failed")
    assert done.error == "upstream failed" and done.file_count == 1 and done.size_bytes == 3


def test_wait_commit(pfs: PFS) -> None:
    pfs.create_repo("r")
    c = pfs.start_commit("r@master")
    with pytest.raises(WaitTimeoutError, match="still open"):
        pfs.wait_commit(f"r@{c.id}", timeout=0.2)
    threading.Timer(0.3, lambda: pfs.finish_commit(f"r@{c.id}")).start()
    assert pfs.wait_commit(f"r@{c.id}", timeout=10).finished is not None


def test_subscribe_commits_yields_new_ones(pfs: PFS) -> None:
    pfs.create_repo("r")
    pfs.put_file("r@master", "/old", b"o")
    got: list[str] = []

    def consume() -> None:
        for commit in pfs.subscribe_commits("r", "master", timeout=5):
            got.append(commit.id)
            if len(got) == 2:
                return

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.2)
    a = pfs.put_file("r@master", "/a", b"a")
    b = pfs.put_file("r@master", "/b", b"b")
    t.join(10)
    assert got == [a.id, b.id]


def test_global_id_and_provenance(pfs: PFS) -> None:
    pfs.create_repo("raw")
    pfs.create_repo("clean")
    src = pfs.put_file("raw@master", "/x", b"x")
    out = pfs.start_commit("clean@master", commit_id=src.id, provenance=[src.ref], origin="auto")
    assert out.id == src.id and out.provenance == (CommitRef("raw", src.id),)
    assert {c.repo for c in pfs.commit_set(src.id)} == {"raw", "clean"}
    # the input commit cannot be dropped alone: its output must go with it
    pfs.finish_commit(f"clean@{out.id}")
    pfs.put_file("raw@master", "/y", b"y")
    with pytest.raises(ConflictError, match="computed from it"):
        pfs.squash_commit(f"raw@{src.id}")
    with pytest.raises(ConflictError, match="no children"):
        pfs.squash_commit(src.id)  # the whole set: clean@id is a head
    assert len(pfs.commit_set(src.id)) == 2


def test_squash_keeps_changes_in_children(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    c2 = pfs.put_file("r@master", "/b", b"2")
    c3 = pfs.put_file("r@master", "/c", b"3")
    pfs.squash_commit(c2.id)
    assert [c.id for c in pfs.list_commits("r", "master")] == [c3.id, c1.id]
    assert {f.path for f in pfs.list_files("r@master")} == {"/a", "/b", "/c"}
    with pytest.raises(ConflictError, match="no children"):
        pfs.squash_commit(c3.id)


def test_delete_head_moves_branch_back(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    c2 = pfs.put_file("r@master", "/b", b"2")
    with pytest.raises(ConflictError, match="has children"):
        pfs.delete_commit(c1.id)
    pfs.delete_commit(f"r@{c2.id}")
    assert pfs.inspect_branch("r", "master").head == c1.id
    assert [f.path for f in pfs.list_files("r@master")] == ["/a"]
    with pytest.raises(CommitNotFoundError):
        pfs.inspect_commit(f"r@{c2.id}")
    pfs.delete_commit(c1.id)
    assert pfs.inspect_branch("r", "master").head is None


def test_delete_open_commit_abandons_it(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    o = pfs.start_commit("r@master")
    pfs.put_file("r@master", "/junk", b"j")
    pfs.delete_commit(o.id)
    assert pfs.inspect_branch("r", "master").head == c1.id
    assert [f.path for f in pfs.list_files("r@master")] == ["/a"]


def test_squash_refusal_names_the_verb_in_good_english(pfs: PFS) -> None:
    pfs.create_repo("raw")
    pfs.create_repo("clean")
    src = pfs.put_file("raw@master", "/x", b"x")
    out = pfs.start_commit("clean@master", commit_id=src.id, provenance=[src.ref], origin="auto")
    pfs.finish_commit(f"clean@{out.id}")
    pfs.put_file("raw@master", "/y", b"y")
    with pytest.raises(ConflictError, match="must be squashed with it"):
        pfs.squash_commit(f"raw@{src.id}")
