from __future__ import annotations

import pytest

from raypachy.errors import (
    BranchNotFoundError,
    CommitConflictError,
    InvalidNameError,
    PathNotFoundError,
    ProjectNotFoundError,
    RepoExistsError,
    RepoNotFoundError,
)
from raypachy.pfs import PFS
from raypachy.pfs.metadata import BranchRecord


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
    with pytest.raises(RepoNotFoundError, match="images"):
        pfs.inspect_repo("images")


def test_create_repo_twice_and_update(pfs: PFS) -> None:
    pfs.create_repo("r")
    with pytest.raises(RepoExistsError, match="already exists"):
        pfs.create_repo("r")
    assert pfs.create_repo("r", description="new", update=True).description == "new"


def test_bad_repo_names_create_nothing(pfs: PFS) -> None:
    for bad in ["", "a/b/c", "..", "x" * 64, "/b"]:
        with pytest.raises(InvalidNameError):
            pfs.create_repo(bad)
    with pytest.raises(ProjectNotFoundError, match="raypachy create project a"):
        pfs.create_repo("a/b")  # a repo of a project nobody created
    assert pfs.list_repos() == []


def test_missing_repo_everywhere(pfs: PFS) -> None:
    with pytest.raises(RepoNotFoundError, match="raypachy create repo nope"):
        pfs.put_file("nope@master", "/a", b"x")
    with pytest.raises(RepoNotFoundError):
        pfs.list_files("nope@master")
    with pytest.raises(RepoNotFoundError):
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
    assert empty.head == pfs.inspect_commit("r@empty").id  # an empty head commit
    assert [b.name for b in pfs.list_branches("r")] == ["dev", "empty", "master"]
    pfs.delete_branch("r", "dev")
    with pytest.raises(BranchNotFoundError):
        pfs.inspect_branch("r", "dev")
    with pytest.raises(BranchNotFoundError, match="list branch"):
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


def test_a_new_branch_gets_an_empty_head_and_lists_as_empty(pfs: PFS) -> None:
    pfs.create_repo("r")
    c1 = pfs.put_file("r@master", "/a", b"1")
    dev = pfs.create_branch("r", "dev")
    head = pfs.inspect_commit("r@dev")
    assert dev.head == head.id and head.finished is not None and head.parent is None
    assert pfs.list_files("r@dev") == [] and pfs.glob_files("r@dev", "/*") == []
    # an existing branch named without a head stays where it is
    assert pfs.create_branch("r", "master").head == c1.id
    assert pfs.inspect_branch("r", "master").head == c1.id
    # writes build on the empty head
    c2 = pfs.put_file("r@dev", "/b", b"2")
    assert c2.parent == dev.head and [f.path for f in pfs.list_files("r@dev")] == ["/b"]


def test_a_branch_left_without_a_commit_lists_as_empty(pfs: PFS) -> None:
    pfs.create_repo("r")
    with pfs.meta.write() as tx:  # as branches were made before they got an empty head
        tx.insert_branch(BranchRecord("r", "old", None, 0.0))
    assert pfs.list_files("r@old") == [] and pfs.glob_files("r@old", "/**") == []
    with pytest.raises(PathNotFoundError, match="r@old"):
        pfs.list_files("r@old", "/x")
