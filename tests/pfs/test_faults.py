"""Faults: racing writers, a writer killed mid-put, corrupted and missing chunks."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raypachy.errors import ChunkCorruptedError, ObjectMissingError
from raypachy.pfs import PFS
from raypachy.pfs.metadata import open_store
from raypachy.storage.chunkstore import chunk_key

SCRIPT = str(Path(__file__).with_name("writer_script.py"))
ROOT = str(Path(__file__).parents[2])


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip


def test_racing_start_commits_one_wins(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    pfs = PFS.open(home)
    pfs.create_repo("r")
    base = pfs.put_file("r@master", "/base", b"b")
    procs = [_spawn(home, "start") for _ in range(4)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    winners = [o for o in outs if o.startswith("WON")]
    losers = [o for o in outs if o.startswith("LOST CommitOpenError")]
    assert len(winners) == 1 and len(losers) == 3, outs
    won_id = winners[0].split()[1]
    assert pfs.inspect_branch("r", "master").head == won_id
    assert pfs.inspect_commit(f"r@{won_id}").parent == base.id


def test_concurrent_one_shot_puts_lose_no_commit(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    pfs = PFS.open(home)
    pfs.create_repo("r")
    procs = [_spawn(home, "many-puts", f"w{i}", "15") for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    history = pfs.list_commits("r", "master")
    assert len(history) == 60
    assert history[-1].parent is None
    for newer, older in itertools.pairwise(history):
        assert newer.parent == older.id  # one chain, nothing dropped
    paths = {p for p, _ in pfs.walk_files("r@master")}
    assert paths == {f"/w{i}/{j}" for i in range(4) for j in range(15)}


def test_writer_killed_mid_put_leaves_nothing_visible(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("r")
    precious = os.urandom(2 << 20)
    before = pfs.put_file("r@master", "/precious", precious)
    chunk_dir = home / "storage" / "chunks"
    chunks_before = set(pfs.backend.list("chunks/"))
    proc = _spawn(str(home), "big-put", str(2 << 30))
    deadline = time.monotonic() + 60
    while len(set(pfs.backend.list("chunks/")) - chunks_before) < 8:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the writer wrote no chunks"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert chunk_dir.exists()
    # nothing partial is visible
    assert pfs.inspect_branch("r", "master").head == before.id
    assert [c.id for c in pfs.list_commits("r")] == [before.id]
    assert [f.path for f in pfs.list_files("r@master")] == ["/precious"]
    orphans = set(pfs.backend.list("chunks/")) - chunks_before
    assert orphans
    report = pfs.gc()
    assert report.chunks_deleted == len(orphans)
    assert set(pfs.backend.list("chunks/")) == chunks_before
    assert not [p for p in chunk_dir.rglob(".*") if p.is_file()]  # temp files swept
    assert pfs.get_file("r@master", "/precious") == precious


def test_corrupted_chunk_is_reported_never_wrong_bytes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("r")
    pfs.put_file("r@master", "/f", os.urandom(1 << 20) + b"tail")
    data = next(iter(pfs.walk_files("r@master")))[1]
    chunk_id = data.refs[0].chunk
    path = Path(str(pfs.backend.local_path(chunk_key(chunk_id))))
    blob = bytearray(path.read_bytes())
    blob[100] ^= 1
    path.write_bytes(bytes(blob))
    fresh = PFS.open(str(home))
    with pytest.raises(ChunkCorruptedError, match=chunk_id.hex()):
        fresh.get_file("r@master", "/f")
    path.unlink()
    with pytest.raises(ObjectMissingError, match=chunk_id.hex()):
        PFS.open(str(home)).get_file("r@master", "/f")


def test_uploading_a_file_again_repairs_its_corrupted_chunk(tmp_path: Path) -> None:
    pfs = PFS.open(str(tmp_path / "home"))
    pfs.create_repo("r")
    data = b"important,row\n" * 1000
    pfs.put_file("r@master", "/f.csv", data)
    ((_, content),) = list(pfs.walk_files("r@master"))
    path = pfs.backend.local_path(chunk_key(content.refs[0].chunk))
    assert path is not None
    with open(path, "r+b") as f:
        f.seek(-5, 2)
        f.write(b"XXXXX")
    reader = PFS(open_store(pfs.meta.location), pfs.backend.uri)  # no cached copy
    with pytest.raises(ChunkCorruptedError):
        reader.get_file("r@master", "/f.csv")
    assert any(p.kind == "chunk" for p in reader.fsck(deep=True).problems)
    uploader = PFS(open_store(pfs.meta.location), pfs.backend.uri)
    uploader.put_file("r@master", "/f-again.csv", data)  # the same bytes, another name
    fresh = PFS(open_store(pfs.meta.location), pfs.backend.uri)
    assert fresh.get_file("r@master", "/f.csv") == data
    assert fresh.get_file("r@master", "/f-again.csv") == data
    assert fresh.fsck(deep=True).ok
