"""The parts of raypachy.data that need no cluster: which files a glob selects, how they are
split into read tasks, and how a block is built."""

from __future__ import annotations

import pytest

from raypachy import errors
from raypachy.data.datasource import _read, _table, split
from raypachy.data.selection import select
from raypachy.pfs import PFS
from raypachy.storage.entries import FileData

FILES = {
    "/a.csv": b"a",
    "/dir/b.csv": b"bb",
    "/dir/sub/c.csv": b"ccc",
    "/dir/sub/d.txt": b"dddd",
    "/other/e.csv": b"eeeee",
}


@pytest.fixture
def repo(pfs: PFS) -> PFS:
    pfs.create_repo("r")
    with pfs.modify("r@master") as m:
        for path, data in FILES.items():
            m.put(path, data)
    return pfs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("r@master", sorted(FILES)),
        ("r@master:/", sorted(FILES)),
        ("r@master:/*.csv", ["/a.csv"]),
        ("r@master:/dir", ["/dir/b.csv", "/dir/sub/c.csv", "/dir/sub/d.txt"]),
        ("r@master:/dir/*", ["/dir/b.csv", "/dir/sub/c.csv", "/dir/sub/d.txt"]),
        ("r@master:/**.csv", ["/a.csv", "/dir/b.csv", "/dir/sub/c.csv", "/other/e.csv"]),
        ("r@master:/*/sub/*.txt", ["/dir/sub/d.txt"]),
        ("r:/other/*", ["/other/e.csv"]),
    ],
)
def test_a_glob_selects_files_as_pachyderm_does(repo: PFS, spec: str, expected: list[str]) -> None:
    selection = select(repo, spec)
    assert [p for p, _ in selection.files] == expected
    assert selection.size_bytes == sum(len(FILES[p]) for p in expected)
    assert selection.commit == repo.inspect_commit("r@master").ref
    assert selection.fs_paths()[0] == f"r@{selection.commit.id}{expected[0]}"


def test_a_selection_is_one_commit(repo: PFS) -> None:
    first = repo.inspect_commit("r@master")
    repo.put_file("r@master", "/a.csv", b"changed")
    assert select(repo, f"r@{first.id}:/a.csv").files[0][1].size == 1
    assert select(repo, "r@master^1:/a.csv").commit.id == first.id
    assert select(repo, "r@master:/a.csv").files[0][1].size == len(b"changed")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("r@master:/nothing/*", errors.PathNotFoundError),
        ("nope@master:/*", errors.RepoNotFoundError),
        ("r@nobranch:/*", errors.BranchNotFoundError),
        ("r@master:/[", errors.InvalidGlobError),
        ("bad repo@master", errors.InvalidAddressError),
    ],
)
def test_bad_selections_say_what_is_wrong(repo: PFS, spec: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        select(repo, spec)


def test_split_keeps_order_and_balances_bytes() -> None:
    files = [(f"/{i:02d}", FileData(size, b"", ())) for i, size in enumerate([10] * 8 + [80])]
    groups = split(files, 2)
    assert [p for g in groups for p, _ in g] == [p for p, _ in files]
    assert [sum(d.size for _, d in g) for g in groups] == [80, 80]
    assert len(split(files, 100)) == len(files)
    assert split(files[:1], 4) == [files[:1]]


def test_blocks_hold_the_bytes_of_each_file(repo: PFS) -> None:
    selection = select(repo, "r@master")
    tables = list(_read(list(selection.files), str(selection.commit), repo.backend.uri, ""))
    rows = [r for t in tables for r in t.to_pylist()]
    assert {r["path"]: r["bytes"] for r in rows} == FILES
    assert {r["commit"] for r in rows} == {str(selection.commit)}


def test_a_block_larger_than_a_binary_column_is_refused_with_a_hint() -> None:
    with pytest.raises(errors.InvalidArgumentError, match="raypachy:// filesystem"):
        _table([("/huge.bin", FileData(1 << 31, b"", ()))], [], "r@x")
