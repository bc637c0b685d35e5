from __future__ import annotations

import pytest

from raypachy.errors import InvalidAddressError, InvalidNameError, InvalidPathError
from raypachy.pfs import parse_address
from raypachy.pfs.names import check_branch_name, check_repo_name, normalize_path


@pytest.mark.parametrize("name", ["images", "a", "A_b-9", "x" * 63])
def test_valid_repo_names(name: str) -> None:
    assert check_repo_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 64, "has space", "dot.name", "slash/", "at@x", "é"])
def test_invalid_repo_names(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid repo name"):
        check_repo_name(name)


@pytest.mark.parametrize(
    ("name", "key"),
    [("staging/images", "staging/images"), ("default/images", "images"), ("images", "images")],
)
def test_a_repo_name_may_name_its_project(name: str, key: str) -> None:
    assert check_repo_name(name) == key
    assert parse_address(f"{name}@master:/a").repo == key


@pytest.mark.parametrize("name", ["/x", "bad project/x", "a.b/x", "a/b/x"])
def test_a_bad_project_in_a_repo_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid project name"):
        check_repo_name(name)


@pytest.mark.parametrize("name", ["", "a b", "0123456789abcdef0123456789abcdef", "x^2"])
def test_invalid_branch_names(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid branch name"):
        check_branch_name(name)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("/", "/"), ("/a", "/a"), ("/a/", "/a"), ("//a///b/", "/a/b"), ("/a b/c.txt", "/a b/c.txt")],
)
def test_normalize_path(raw: str, clean: str) -> None:
    assert normalize_path(raw) == clean


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty path"),
        ("a/b", "relative"),
        ("/a/../b", r"'\.\.'"),
        ("/a/./b", r"'\.'"),
        ("/a\x00b", "NUL"),
    ],
)
def test_bad_paths(raw: str, message: str) -> None:
    with pytest.raises(InvalidPathError, match=message):
        normalize_path(raw)


def test_root_refused_where_a_file_is_needed() -> None:
    with pytest.raises(InvalidPathError, match="root"):
        normalize_path("/", allow_root=False)


@pytest.mark.parametrize(
    ("text", "repo", "ref", "ancestry", "path"),
    [
        ("images", "images", None, 0, None),
        ("images@master", "images", "master", 0, None),
        ("images@master^", "images", "master", 1, None),
        ("images@master^2", "images", "master", 2, None),
        ("images@master^^", "images", "master", 2, None),
        ("images@master~3:/a/b", "images", "master", 3, "/a/b"),
        (
            "images@0123456789abcdef0123456789abcdef:/x",
            "images",
            "0123456789abcdef0123456789abcdef",
            0,
            "/x",
        ),
        ("images@dev:/", "images", "dev", 0, "/"),
        ("images@master.1", "images", "master.1", 0, None),  # the branch's first commit
        ("images@master.12^2:/a", "images", "master.12", 2, "/a"),
    ],
)
def test_parse_address(
    text: str, repo: str, ref: str | None, ancestry: int, path: str | None
) -> None:
    addr = parse_address(text)
    assert (addr.repo, addr.ref, addr.ancestry, addr.path) == (repo, ref, ancestry, path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@master",
        "bad name@master",
        "images@master:relative",
        "images@master:/a/../b",
        "images@master.0",
        "images@master.x",
        "images@master.1.2",
    ],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(InvalidAddressError, match="address"):
        parse_address(text)


def test_address_requiring_a_path() -> None:
    with pytest.raises(InvalidAddressError, match="names no file"):
        parse_address("images@master", require_path=True)
