"""RaypachyFileSystem as an fsspec backend: the behaviour every fsspec filesystem promises
(listing, info, find, glob, cat with ranges, open/seek/read, put/get/copy/rm), grouped as
fsspec's abstract backend tests group theirs, plus what versioning adds (pinned reads,
one commit per file, one commit per transaction)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import pytest

from raypachy import errors
from raypachy.client import Client
from raypachy.fs import RaypachyFileSystem, parse_fs_path
from tests.fs.conftest import LAYOUT, local_tree

# --- paths ---------------------------------------------------------------------------------


def test_protocol_is_registered_through_the_entry_point() -> None:
    assert fsspec.get_filesystem_class("raypachy") is RaypachyFileSystem


def test_the_filesystem_does_not_import_ray() -> None:
    code = "import sys, raypachy.fs; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("text", "repo", "ref", "ancestry", "path"),
    [
        ("iris", "iris", "master", 0, "/"),
        ("iris@master/raw/iris-1.csv", "iris", "master", 0, "/raw/iris-1.csv"),
        ("iris@dev^2/a//b/", "iris", "dev", 2, "/a/b"),
        ("default/iris@v3/2024", "iris", "v3", 0, "/2024"),
        ("proj/sales@v3/2024", "proj/sales", "v3", 0, "/2024"),  # a repo of project proj
        (f"iris@{'c' * 32}/x", "iris", "c" * 32, 0, "/x"),
    ],
)
def test_paths(text: str, repo: str, ref: str, ancestry: int, path: str) -> None:
    fp = parse_fs_path(RaypachyFileSystem._strip_protocol(f"raypachy://{text}"))
    assert fp is not None
    assert (fp.repo, fp.ref, fp.ancestry, fp.path) == (repo, ref, ancestry, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no project/sales@v3/2024", "invalid project name"),
        ("bad name@master/x", "invalid repo name"),
        ("iris@master/a/../b", "contains '.' or '..'"),
        ("iris@master:/x.csv", "write the path after a '/'"),
    ],
)
def test_bad_paths_are_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(errors.InvalidAddressError, match=message) as e:
        parse_fs_path(text)
    assert "\n" not in str(e.value)


def test_project_prefix_default_names_the_same_place(fs: RaypachyFileSystem, layout: str) -> None:
    assert fs.cat_file(f"default/{layout}@master/file1") == LAYOUT["/file1"]
    assert fs.ls(f"default/{layout}@master/subdir", detail=False)[0].startswith(
        f"default/{layout}@master/subdir/"
    )


def test_a_repo_of_another_project_reads_and_writes(fs: RaypachyFileSystem, client: Client) -> None:
    project = f"p{uuid.uuid4().hex[:8]}"
    client.create_project(project)
    client.create_repo(f"{project}/sales")
    fs.pipe_file(f"{project}/sales@master/2024.csv", b"a,b\n")
    assert client.get_file(f"{project}/sales@master", "/2024.csv") == b"a,b\n"
    assert fs.cat_file(f"{project}/sales@master/2024.csv") == b"a,b\n"
    assert fs.ls(f"{project}/sales@master", detail=False) == [f"{project}/sales@master/2024.csv"]
    client.delete_project(project, force=True)


# --- listing and info --------------------------------------------------------------------


def test_ls(fs: RaypachyFileSystem, layout: str) -> None:
    root = f"{layout}@master"
    entries = {e["name"]: e for e in fs.ls(root)}
    assert set(entries) == {f"{root}/{n}" for n in ("file1", "file2", "subdir", "data")}
    assert entries[f"{root}/file1"]["type"] == "file"
    assert entries[f"{root}/file1"]["size"] == len(LAYOUT["/file1"])
    assert entries[f"{root}/subdir"]["type"] == "directory"
    assert fs.ls(f"raypachy://{root}/subdir/", detail=False) == [
        f"{root}/subdir/nesteddir",
        f"{root}/subdir/subfile1",
        f"{root}/subdir/subfile2",
    ]
    assert fs.ls(f"{root}/file1", detail=False) == [f"{root}/file1"]
    assert layout in fs.ls("", detail=False)
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{root}/missing")


def test_info(fs: RaypachyFileSystem, layout: str) -> None:
    root = f"{layout}@master"
    info = fs.info(f"raypachy://{root}/subdir/subfile1")
    assert info["type"] == "file" and info["size"] == len(LAYOUT["/subdir/subfile1"])
    assert info["commit"].startswith(f"{layout}@") and len(info["hash"]) == 64
    assert fs.info(f"{root}/subdir")["type"] == "directory"
    assert fs.info(root)["type"] == "directory"
    assert fs.isdir(f"{root}/subdir") and fs.isfile(f"{root}/file1")
    assert fs.exists(f"{root}/file2") and not fs.exists(f"{root}/nope")
    assert not fs.exists(f"{layout}@nobranch/file1")
    assert not fs.exists("norepo@master/file1")
    with pytest.raises(FileNotFoundError, match="not found"):
        fs.info(f"{root}/nope")
    assert fs.size(f"{root}/file2") == len(LAYOUT["/file2"])
    assert fs.modified(f"{root}/file1") is not None


def test_an_empty_branch_is_an_empty_directory(fs: RaypachyFileSystem, repo: str) -> None:
    assert fs.ls(f"{repo}@master") == []
    assert fs.info(f"{repo}@master")["type"] == "directory"
    assert fs.find(f"{repo}@master") == []


def test_find(fs: RaypachyFileSystem, layout: str) -> None:
    root = f"{layout}@master"
    assert fs.find(root) == sorted(f"{root}{p}" for p in LAYOUT)
    assert fs.find(f"{root}/subdir") == [
        f"{root}/subdir/nesteddir/nestedfile",
        f"{root}/subdir/subfile1",
        f"{root}/subdir/subfile2",
    ]
    assert fs.find(f"{root}/subdir", maxdepth=1) == [
        f"{root}/subdir/subfile1",
        f"{root}/subdir/subfile2",
    ]
    assert fs.find(f"{root}/subdir", withdirs=True, maxdepth=1) == [
        f"{root}/subdir",
        f"{root}/subdir/nesteddir",
        f"{root}/subdir/subfile1",
        f"{root}/subdir/subfile2",
    ]
    # a directory whose first entry is a file is still listed itself with withdirs
    assert fs.find(f"{root}/data", withdirs=True) == [
        f"{root}/data",
        f"{root}/data/a.csv",
        f"{root}/data/b.csv",
    ]
    assert fs.find(f"{root}/file1") == [f"{root}/file1"]
    assert fs.find(f"{root}/file1", withdirs=True) == [f"{root}/file1"]
    assert fs.find(f"{root}/missing") == []
    detail = fs.find(f"{root}/data", detail=True)
    assert detail[f"{root}/data/a.csv"]["size"] == len(LAYOUT["/data/a.csv"])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", ["data", "file1", "file2", "subdir"]),
        ("file*", ["file1", "file2"]),
        ("subdir/*", ["subdir/nesteddir", "subdir/subfile1", "subdir/subfile2"]),
        ("subdir/**", ["subdir", "subdir/nesteddir", "subdir/nesteddir/nestedfile",
                       "subdir/subfile1", "subdir/subfile2"]),
        ("**/*.csv", ["data/a.csv", "data/b.csv"]),
        ("*/sub?ile[12]", ["subdir/subfile1", "subdir/subfile2"]),
        ("nothing*", []),
    ],
)  # fmt: skip
def test_glob(fs: RaypachyFileSystem, layout: str, pattern: str, expected: list[str]) -> None:
    root = f"{layout}@master"
    assert fs.glob(f"raypachy://{root}/{pattern}") == [f"{root}/{e}" for e in expected]


def test_special_characters_in_names(fs: RaypachyFileSystem, repo: str, client: Client) -> None:
    client.put_file(f"{repo}@master", "/we[ir]d {dir}/(a),b*.txt", b"odd")
    root = f"{repo}@master"
    assert fs.find(f"{root}/we[ir]d {{dir}}") == [f"{root}/we[ir]d {{dir}}/(a),b*.txt"]
    assert fs.cat_file(f"{root}/we[ir]d {{dir}}/(a),b*.txt") == b"odd"  # cat would glob


# --- reading -----------------------------------------------------------------------------


@pytest.mark.usefixtures("data_plane")
def test_cat_and_ranges(fs: RaypachyFileSystem, repo: str, client: Client) -> None:
    blob = os.urandom(9 << 20)  # several chunks
    client.put_file(f"{repo}@master", "/big.bin", blob)
    path = f"raypachy://{repo}@master/big.bin"
    assert fs.cat_file(path) == blob
    for start, end in [(0, 10), (5, 5), (3 << 20, (3 << 20) + 100), (1000, None),
                       (-100, None), (-200, -100), (len(blob) - 3, len(blob) + 50),
                       (len(blob) + 5, None)]:  # fmt: skip
        assert fs.cat_file(path, start=start, end=end) == blob[start:end], (start, end)
    assert fs.read_block(path, 100, 50) == blob[100:150]
    client.put_file(f"{repo}@master", "/small.bin", b"small")
    both = fs.cat([path, f"{repo}@master/small.bin"])
    assert both == {f"{repo}@master/big.bin": blob, f"{repo}@master/small.bin": b"small"}
    assert fs.cat_file(f"{repo}@master/big.bin", 0, 0) == b""
    assert client.read_range(f"{repo}@master", "/big.bin", 7, 5000) == blob[7:5000]


def test_ranges_fetch_only_the_chunks_they_need(
    fs: RaypachyFileSystem, repo: str, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = os.urandom(12 << 20)
    client.put_file(f"{repo}@master", "/big.bin", blob)
    data = dict(client.walk_data(f"{repo}@master", "/big.bin"))["/big.bin"]
    assert len(data.refs) >= 4
    fetched: list[str] = []
    backend = client.chunks.backend
    real_get = backend.get
    monkeypatch.setattr(backend, "get", lambda key: fetched.append(key) or real_get(key))
    middle = data.refs[0].length + 10  # inside the second chunk
    assert (
        fs.cat_file(f"{repo}@master/big.bin", middle, middle + 100) == blob[middle : middle + 100]
    )
    assert fetched == [f"chunks/{data.refs[1].chunk.hex()[:2]}/{data.refs[1].chunk.hex()}"]
    fetched.clear()
    with fs.open(f"{repo}@master/big.bin") as f:
        f.seek(len(blob) - 20)
        assert f.read() == blob[-20:]
    assert len(fetched) == 1  # the last chunk only, however far the seek went


@pytest.mark.usefixtures("data_plane")
def test_open_is_a_random_access_file(fs: RaypachyFileSystem, repo: str, client: Client) -> None:
    blob = os.urandom(5 << 20) + b"\nlast line\n"
    client.put_file(f"{repo}@master", "/f.bin", blob)
    with fs.open(f"{repo}@master/f.bin", "rb") as f:
        assert f.size == len(blob) and f.seekable()
        assert f.read(10) == blob[:10]
        f.seek(1 << 20)
        assert f.read(4096) == blob[1 << 20 : (1 << 20) + 4096]
        assert f.tell() == (1 << 20) + 4096
        f.seek(-10, 2)
        assert f.read() == blob[-10:]
        f.seek(0)
        assert f.read() == blob
    with fs.open(f"{repo}@master/f.bin", "r", encoding="latin-1") as text:
        assert text.readlines()[-1] == "last line\n"
    with pytest.raises(FileNotFoundError):
        fs.open(f"{repo}@master/missing.bin")
    client.put_file(f"{repo}@master", "/dir/x", b"x")
    with pytest.raises(IsADirectoryError):
        fs.open(f"{repo}@master/dir")


def test_reads_are_pinned_to_one_commit(fs: RaypachyFileSystem, repo: str, client: Client) -> None:
    first = client.put_file(f"{repo}@master", "/v.txt", b"version one")
    client.put_file(f"{repo}@master", "/v.txt", b"version two!")
    assert fs.cat(f"{repo}@{first.id}/v.txt") == b"version one"
    assert fs.cat(f"{repo}@master^1/v.txt") == b"version one"
    assert fs.cat(f"{repo}@master/v.txt") == b"version two!"
    assert fs.info(f"{repo}@{first.id}/v.txt")["commit"] == f"{repo}@{first.id}"
    # A file opened on a branch keeps reading the commit it was opened on.
    with fs.open(f"{repo}@master/v.txt") as f:
        client.put_file(f"{repo}@master", "/v.txt", b"version three, longer")
        assert f.read() == b"version two!"
    assert fs.cat(f"{repo}@master/v.txt") == b"version three, longer"
    assert fs.cat(f"{repo}@{first.id}/v.txt") == b"version one"


def test_the_filesystem_pickles_and_reads_on_the_other_side(
    fs: RaypachyFileSystem, layout: str
) -> None:
    copy = pickle.loads(pickle.dumps(fs))
    try:
        assert copy is not fs and copy.client.address == fs.client.address
        assert copy.cat(f"{layout}@master/file2") == LAYOUT["/file2"]
    finally:
        copy.client.close()
        RaypachyFileSystem.clear_instance_cache()


def test_get_copies_to_local_disk(fs: RaypachyFileSystem, layout: str, tmp_path: Path) -> None:
    fs.get(f"{layout}@master/subdir", str(tmp_path / "out"), recursive=True)
    got = {
        "/subdir/" + p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert got == {k: v for k, v in LAYOUT.items() if k.startswith("/subdir/")}


# --- writing -----------------------------------------------------------------------------


def _commits(client: Client, repo: str) -> int:
    try:
        return len(client.list_commits(repo, "master"))
    except errors.NotFoundError:
        return 0


@pytest.mark.usefixtures("data_plane")
def test_each_file_written_is_one_commit(fs: RaypachyFileSystem, repo: str, client: Client) -> None:
    blob = os.urandom(7 << 20)
    with fs.open(f"raypachy://{repo}@master/a/big.bin", "wb", block_size=1 << 20) as f:
        for i in range(0, len(blob), 1 << 19):
            f.write(blob[i : i + (1 << 19)])
        assert _commits(client, repo) == 0  # nothing visible until the file is closed
    assert _commits(client, repo) == 1
    fs.pipe_file(f"{repo}@master/b.txt", b"bee")
    assert _commits(client, repo) == 2
    assert client.get_file(f"{repo}@master", "/a/big.bin") == blob
    with fs.open(f"{repo}@master/b.txt", "ab") as f:
        f.write(b" and more")
    assert fs.cat(f"{repo}@master/b.txt") == b"bee and more"
    with fs.open(f"{repo}@master/t.txt", "w") as t:
        t.write("text mode\n")
    assert client.get_file(f"{repo}@master", "/t.txt") == b"text mode\n"
    assert _commits(client, repo) == 4
    with pytest.raises(FileExistsError):
        fs.open(f"{repo}@master/b.txt", "xb")


def test_an_exception_while_writing_a_file_still_commits_what_was_closed(
    fs: RaypachyFileSystem, repo: str, client: Client
) -> None:
    # A plain `with open(...)` closes the file on an exception, as Python files do; only a
    # transaction discards. This is fsspec's (and the builtin open's) contract.
    with pytest.raises(RuntimeError), fs.open(f"{repo}@master/partial.txt", "wb") as f:
        f.write(b"half")
        raise RuntimeError("boom")
    assert fs.cat(f"{repo}@master/partial.txt") == b"half"


def test_writes_to_a_commit_or_a_missing_repo_are_refused(
    fs: RaypachyFileSystem, layout: str, client: Client
) -> None:
    head = client.inspect_commit(f"{layout}@master").id
    with pytest.raises(PermissionError, match="never changes: write to a branch"):
        fs.open(f"{layout}@{head}/x.txt", "wb")
    with pytest.raises(PermissionError):
        fs.open(f"{layout}@master^1/x.txt", "wb")
    with pytest.raises(FileNotFoundError, match="norepo"):
        fs.open("norepo@master/x.txt", "wb")
    with pytest.raises(errors.InvalidArgumentError, match=r"bad\.branch"):  # not a name, nor .N
        fs.open(f"{layout}@bad.branch/x.txt", "wb")
    assert client.inspect_commit(f"{layout}@master").id == head


@pytest.mark.usefixtures("data_plane")
def test_a_transaction_is_one_commit(fs: RaypachyFileSystem, layout: str, client: Client) -> None:
    before = _commits(client, layout)
    root = f"{layout}@master"
    with fs.transaction:
        fs.pipe_file(f"{root}/new/one.txt", b"1")
        with fs.open(f"{root}/new/two.txt", "wb") as f:
            f.write(b"2")
        unclosed = fs.open(f"{root}/new/three.txt", "wb")
        unclosed.write(b"3")
        fs.rm(f"{root}/subdir", recursive=True)
        fs.rm_file(f"{root}/file1")
        assert not fs.exists(f"{root}/new/one.txt")  # nothing visible inside
        assert fs.exists(f"{root}/file1")
    assert _commits(client, layout) == before + 1
    assert fs.cat(f"{root}/new/one.txt") == b"1" and fs.cat(f"{root}/new/three.txt") == b"3"
    assert fs.cat(f"{root}/new/two.txt") == b"2"
    assert not fs.exists(f"{root}/subdir") and not fs.exists(f"{root}/file1")
    assert fs.exists(f"{root}/file2")


@pytest.mark.usefixtures("data_plane")
def test_an_exception_in_a_transaction_leaves_nothing_visible(
    fs: RaypachyFileSystem, layout: str, client: Client
) -> None:
    head = client.inspect_commit(f"{layout}@master").id
    root = f"{layout}@master"
    with pytest.raises(RuntimeError, match="half way"), fs.transaction:
        fs.pipe_file(f"{root}/new.txt", b"new")
        fs.rm_file(f"{root}/file1")
        raise RuntimeError("half way")
    assert client.inspect_commit(f"{layout}@master").id == head
    assert not fs.exists(f"{root}/new.txt") and fs.exists(f"{root}/file1")
    assert not fs._intrans
    fs.pipe_file(f"{root}/after.txt", b"ok")  # the filesystem writes normally afterwards
    assert fs.cat(f"{root}/after.txt") == b"ok"


def test_a_transaction_writes_one_branch(fs: RaypachyFileSystem, layout: str, repo: str) -> None:
    with pytest.raises(ValueError, match="one commit on one branch"), fs.transaction:
        fs.pipe_file(f"{layout}@master/a.txt", b"a")
        fs.pipe_file(f"{layout}@other/b.txt", b"b")
    assert not fs.exists(f"{layout}@master/a.txt")


def test_rm(fs: RaypachyFileSystem, layout: str, client: Client) -> None:
    root = f"{layout}@master"
    before = _commits(client, layout)
    fs.rm(f"{root}/file2")
    assert _commits(client, layout) == before + 1 and not fs.exists(f"{root}/file2")
    with pytest.raises(IsADirectoryError):
        fs.rm(f"{root}/subdir")
    fs.rm([f"{root}/subdir", f"{root}/data/a.csv"], recursive=True)
    assert _commits(client, layout) == before + 2
    assert fs.find(root) == [f"{root}/data/b.csv", f"{root}/file1"]
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{root}/file2")


def test_put_and_copy(fs: RaypachyFileSystem, repo: str, tmp_path: Path, client: Client) -> None:
    files = {"/a.txt": b"a", "/deep/b.bin": os.urandom(3000)}
    local_tree(tmp_path / "src", files)
    fs.put(str(tmp_path / "src") + "/", f"{repo}@master/up", recursive=True)
    assert {p: fs.cat(p) for p in fs.find(f"{repo}@master/up")} == {
        f"{repo}@master/up{k}": v for k, v in files.items()
    }
    fs.copy(f"{repo}@master/up/deep/b.bin", f"{repo}@master/copy.bin")
    assert fs.cat(f"{repo}@master/copy.bin") == files["/deep/b.bin"]
    # the copy shares the original's chunks: no bytes moved
    refs = dict(client.walk_data(f"{repo}@master", "/"))
    assert refs["/copy.bin"].refs == refs["/up/deep/b.bin"].refs


@pytest.mark.usefixtures("data_plane")
def test_a_transaction_that_fails_while_committing_leaves_nothing_visible(
    fs: RaypachyFileSystem, layout: str, client: Client
) -> None:
    root = f"{layout}@master"
    with pytest.raises(FileNotFoundError), fs.transaction:
        fs.pipe_file(f"{root}/new.txt", b"new")
        fs.rm_file(f"{root}/file1")
        client.delete_file(f"{layout}@master", "/file1")  # someone else removes it first
    head = client.inspect_commit(f"{layout}@master")
    assert head.finished is not None and head.error is None
    assert not fs.exists(f"{root}/new.txt")
    assert [c.description for c in client.list_commits(layout, "master")].count(
        "raypachy:// transaction"
    ) == 0


@pytest.mark.s3
def test_reads_and_writes_straight_from_s3_storage(s3_uri: str, tmp_path: Path) -> None:
    from raypachy.pfs import PFS
    from tests.fs.conftest import serve

    with serve(PFS.open(str(tmp_path / "home"), storage=s3_uri)) as api, Client(api.url) as c:
        assert c.direct_storage and c.storage_uri.startswith("s3://")
        s3fs = RaypachyFileSystem(client=c, skip_instance_cache=True)
        c.create_repo("s3repo")
        blob = os.urandom(6 << 20)
        with s3fs.transaction:
            s3fs.pipe_file("s3repo@master/big.bin", blob)
            s3fs.pipe_file("s3repo@master/small.txt", b"small")
        assert len(c.list_commits("s3repo", "master")) == 1
        assert s3fs.cat_file("s3repo@master/big.bin", 5 << 20, (5 << 20) + 7) == blob[5 << 20 :][:7]
        with s3fs.open("s3repo@master/big.bin") as f:
            f.seek(123_456)
            assert f.read(1000) == blob[123_456:124_456]
        assert s3fs.find("s3repo@master") == ["s3repo@master/big.bin", "s3repo@master/small.txt"]
