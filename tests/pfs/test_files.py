from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from raypachy.errors import InvalidPathError, PathNotFoundError
from raypachy.pfs import PFS


@pytest.fixture
def repo(pfs: PFS) -> PFS:
    pfs.create_repo("r")
    return pfs


def test_put_overwrites_by_default_and_appends_on_request(repo: PFS) -> None:
    repo.put_file("r@master", "/f", b"one")
    repo.put_file("r@master", "/f", b"two")
    assert repo.get_file("r@master", "/f") == b"two"
    repo.put_file("r@master", "/f", b"+three", append=True)
    assert repo.get_file("r@master", "/f") == b"two+three"
    assert repo.inspect_file("r@master", "/f").size_bytes == 9
    assert repo.get_file("r@master^2", "/f") == b"one"


def test_put_from_stream_local_file_and_tree(repo: PFS, tmp_path: Path) -> None:
    repo.put_file("r@master", "/stream", io.BytesIO(b"from a stream"))
    local = tmp_path / "local.bin"
    local.write_bytes(os.urandom(3 << 20))
    repo.put_file("r@master", "/local.bin", local)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    repo.put_dir("r@master", "/imported", tree)
    assert repo.get_file("r@master", "/stream") == b"from a stream"
    assert repo.get_file("r@master", "/local.bin") == local.read_bytes()
    assert [f.path for f in repo.glob_files("r@master", "/imported/**")] == [
        "/imported/a.txt",
        "/imported/sub/",
        "/imported/sub/b.txt",
    ]
    out = tmp_path / "out"
    repo.get_to("r@master", "/imported", out)
    assert (out / "sub" / "b.txt").read_text() == "b"


def test_list_and_inspect_directories(repo: PFS) -> None:
    with repo.modify("r@master") as m:
        m.put("/data/2024/jan.csv", b"1,2\n")
        m.put("/data/2024/feb.csv", b"3,4,5\n")
        m.put("/data/readme", b"r")
        m.put("/top", b"t")
    top = repo.list_files("r@master")
    assert [(f.path, f.type, f.size_bytes) for f in top] == [
        ("/data/", "dir", 11),
        ("/top", "file", 1),
    ]
    inner = repo.list_files("r@master", "/data")
    assert [(f.path, f.type) for f in inner] == [("/data/2024/", "dir"), ("/data/readme", "file")]
    info = repo.inspect_file("r@master", "/data/2024")
    assert info.type == "dir" and info.size_bytes == 10
    root = repo.inspect_file("r@master", "/")
    assert root.size_bytes == 12
    with pytest.raises(PathNotFoundError, match="/nope"):
        repo.inspect_file("r@master", "/nope")
    with pytest.raises(PathNotFoundError, match="directory"):
        repo.get_file("r@master", "/data")


def test_glob_files_dirs_come_back_with_slash(repo: PFS) -> None:
    with repo.modify("r@master") as m:
        for p in ["/a/1.csv", "/a/2.json", "/b/3.csv", "/c.csv"]:
            m.put(p, b"x")
    assert [f.path for f in repo.glob_files("r@master", "/*")] == ["/a/", "/b/", "/c.csv"]
    assert [f.path for f in repo.glob_files("r@master", "/*/*.csv")] == ["/a/1.csv", "/b/3.csv"]
    assert [f.path for f in repo.glob_files("r@master", "**.csv")] == [
        "/a/1.csv",
        "/b/3.csv",
        "/c.csv",
    ]
    assert [f.path for f in repo.glob_files("r@master", "/")] == ["/"]


def test_delete_file_directory_and_root(repo: PFS) -> None:
    with repo.modify("r@master") as m:
        for p in ["/d/1", "/d/2", "/d/e/3", "/keep"]:
            m.put(p, b"x")
    repo.delete_file("r@master", "/d/1")
    assert sorted(p for p, _ in repo.walk_files("r@master")) == ["/d/2", "/d/e/3", "/keep"]
    c = repo.delete_file("r@master", "/d")
    assert sorted(p for p, _ in repo.walk_files("r@master")) == ["/keep"]
    assert (c.file_count, c.size_bytes) == (1, 1)
    with pytest.raises(PathNotFoundError):
        repo.delete_file("r@master", "/d")
    repo.delete_file("r@master", "/")
    assert list(repo.walk_files("r@master")) == []
    assert repo.inspect_commit("r@master").file_count == 0


def test_copy_moves_no_bytes(repo: PFS) -> None:
    big = os.urandom(4 << 20)
    repo.put_file("r@master", "/src/big", big)
    repo.put_file("r@master", "/src/small", b"s")
    before = sorted(repo.backend.list("chunks/"))
    repo.copy_file("r@master", "/src", "r@master", "/dst")
    repo.copy_file("r@master", "/src/small", "r@master", "/dst/small", append=True)
    assert sorted(repo.backend.list("chunks/")) == before
    assert repo.get_file("r@master", "/dst/big") == big
    assert repo.get_file("r@master", "/dst/small") == b"ss"


def test_diff_against_parent_and_any_commit(repo: PFS) -> None:
    c1 = repo.put_file("r@master", "/a", b"1")
    with repo.modify("r@master") as m:
        m.put("/b", b"2")
        m.put("/a", b"changed")
    repo.delete_file("r@master", "/b")
    changes = repo.diff_files("r@master^")
    assert [(c.path, c.change) for c in changes] == [("/a", "modified"), ("/b", "added")]
    latest = repo.diff_files("r@master")
    assert [(c.path, c.change) for c in latest] == [("/b", "deleted")]
    assert [(c.path, c.change) for c in repo.diff_files("r@master", f"r@{c1.id}")] == [
        ("/a", "modified")
    ]
    first = repo.diff_files(f"r@{c1.id}")
    assert [(c.path, c.change) for c in first] == [("/a", "added")]


def test_file_directory_collisions_are_refused(repo: PFS) -> None:
    repo.put_file("r@master", "/x", b"file")
    with pytest.raises(InvalidPathError, match="is a file"):
        repo.put_file("r@master", "/x/y", b"under a file")
    repo.put_file("r@master", "/d/e", b"e")
    with pytest.raises(InvalidPathError, match="is a directory"):
        repo.put_file("r@master", "/d", b"over a dir")
    with (
        pytest.raises(InvalidPathError, match="both a file and a directory"),
        repo.modify("r@master") as m,
    ):
        m.put("/p", b"1")
        m.put("/p/q", b"2")
    # replacing a directory by a file works when the change deletes it first
    with repo.modify("r@master") as m:
        m.delete("/d")
        m.put("/d", b"now a file")
    assert repo.get_file("r@master", "/d") == b"now a file"
    assert len(repo.list_commits("r", "master")) == 3


@pytest.mark.parametrize("path", ["", "relative", "/a/../b", "/a\x00", "/"])
def test_bad_paths_write_nothing(repo: PFS, path: str) -> None:
    with pytest.raises(InvalidPathError):
        repo.put_file("r@master", path, b"x")
    assert repo.list_commits("r") == []
