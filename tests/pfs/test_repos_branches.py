from __future__ import annotations

import pytest

from raypachy.errors import (
    BranchNotFound,
    CommitConflictError,
    InvalidNameError,
    RepoExists,
    RepoNotFound,
)
from raypachy.pfs import PFS


def test_create_list_inspect_delete_repo(pfs: PFS) -> None:
    pfs.create_repo("images", description="raw photos")
    pfs.create_repo("labels")
    assert [r.name for r in pfs.list_repos()] == ["images", "labels"]
    repo = pfs.inspect_repo("images")
    assert repo.description == "raw photos" and repo.size_bytes == 0
    pfs.put_file("images@master", "/a", b"12345")
    assert pfs.inspect_repo("images").size_bytes == 5
    pfs.delete_repo("images")
    assert [r.name for r in pfs.list_repos()] == ["labels"]
    with pytest.raises(RepoNotFound, match="images"):
        pfs.inspect_repo("images")


def test_create_repo_twice_and_update(pfs: PFS) -> None:
    pfs.create_repo("r")
    with pytest.raises(RepoExists, match="already exists"):
        pfs.create_repo("r")
    assert pfs.create_repo("r", description="new", update=True).description == "new"


def test_bad_repo_names_create_nothing(pfs: PFS) -> None:
    for bad in ["", "a/b", "..", "x" * 64]:
        with pytest.raises(InvalidNameError):
            pfs.create_repo(bad)
    assert pfs.list_repos() == []


def test_missing_repo_everywhere(pfs: PFS) -> None:
    with pytest.raises(RepoNotFound, match="raypachy create repo nope"):
        pfs.put_file("nope@master", "/a", b"x")
    with pytest.raises(RepoNotFound):
        pfs.list_files("nope@master")
    with pytest.raises(RepoNotFound):
        pfs.list_branches("nope")


def test_branches_create_move_delete(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    c2 = pfs.put_file("r@master", "/a", b"2")
    dev = pfs.create_branch("r", "dev", head="master^")
    assert dev.head == c1.id
    assert pfs.get_file("r@dev", "/a") == b"1"
    pfs.create_branch("r", "dev", head=c2.id)
    assert pfs.inspect_branch("r", "dev").head == c2.id
    empty = pfs.create_branch("r", "empty")
    assert empty.head is None
    assert [b.name for b in pfs.list_branches("r")] == ["dev", "empty", "master"]
    pfs.delete_branch("r", "dev")
    with pytest.raises(BranchNotFound):
        pfs.inspect_branch("r", "dev")
    with pytest.raises(BranchNotFound, match="list branch"):
        pfs.list_files("r@dev")


def test_branch_move_is_compare_and_swap(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    c2 = pfs.put_file("r@master", "/a", b"2")
    pfs.create_branch("r", "release", head=c1.id)
    pfs.create_branch("r", "release", head=c2.id, expected_head=c1.id)
    with pytest.raises(CommitConflictError, match="another writer moved it"):
        pfs.create_branch("r", "release", head=c1.id, expected_head=c1.id)
    assert pfs.inspect_branch("r", "release").head == c2.id


def test_bad_branch_names(pfs: PFS) -> None:
    pfs.create_repo("r")
    with pytest.raises(InvalidNameError, match="branch"):
        pfs.create_branch("r", "has space")
    with pytest.raises(InvalidNameError, match="commit id"):
        pfs.create_branch("r", "0123456789abcdef0123456789abcdef")
