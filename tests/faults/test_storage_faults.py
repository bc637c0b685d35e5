"""Storage failing under a writer: S3 down and back, S3 down for good, a full disk.

Each test ends with the consistency check: the failed write left nothing visible, and every
commit made before it is intact.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raypachy.errors import StorageError
from raypachy.pfs import PFS
from tests.faults.consistency import assert_consistent
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server, start_s3_server

pytestmark = pytest.mark.faults


class _TripWire(io.RawIOBase):
    """A stream of ``size`` random bytes that calls ``trip()`` once, after ``at`` bytes."""

    def __init__(self, size: int, at: int, trip) -> None:  # type: ignore[no-untyped-def]
        self.data = os.urandom(size)
        self.pos, self.at, self.trip = 0, at, trip

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.trip is not None and self.pos >= self.at:
            trip, self.trip = self.trip, None
            trip()
        n = min(len(buffer), len(self.data) - self.pos, 1 << 20)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Server, str]]:
    """A SeaweedFS of this test's own (it gets stopped), and a bucket on it."""
    server = start_s3_server(tmp_path / "weed")
    monkeypatch.setenv("RAYPACHY_S3_ENDPOINT", server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    server.client().create_bucket(Bucket="faults")
    try:
        yield server, "s3://faults/install"
    finally:
        server.stop(kill=True)  # its data is this test's temporary directory


def test_s3_killed_and_restarted_mid_upload_the_put_completes(
    s3: tuple[S3Server, str], tmp_path: Path
) -> None:
    server, uri = s3
    pfs = PFS.open(str(tmp_path / "home"), uri)
    pfs.create_repo("r")
    before = pfs.put_file("r@master", "/before", b"kept")

    def outage() -> None:
        server.stop(kill=True)  # a crash, not a clean shutdown
        threading.Timer(3.0, server.start).start()

    stream = _TripWire(24 << 20, 8 << 20, outage)
    commit = pfs.put_file("r@master", "/big", stream)
    assert server.process.poll() is None, "the server should be back"
    assert commit.parent == before.id
    fresh = PFS.open(str(tmp_path / "home"), uri)  # reads come from S3, not a cache
    assert_consistent(fresh, {("r@master", "/big"): stream.data, ("r@master", "/before"): b"kept"})


def test_s3_that_stays_down_gives_a_clear_error_and_changes_nothing(
    s3: tuple[S3Server, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, uri = s3
    monkeypatch.setenv("RAYPACHY_S3_OUTAGE_S", "8")  # the default waits a minute
    pfs = PFS.open(str(tmp_path / "home"), uri)
    pfs.create_repo("r")
    before = pfs.put_file("r@master", "/before", b"kept")
    server.stop(kill=True)
    started = time.monotonic()
    with pytest.raises(StorageError) as failure:
        pfs.put_file("r@master", "/new", os.urandom(3 << 20))
    waited = time.monotonic() - started
    message = failure.value.message
    assert "\n" not in message and re.search(r"cannot \w+ s3://faults/install/", message)
    assert "unreachable for 8s" in message and SECRET_KEY not in message
    assert 8 <= waited < 60, (waited, message)  # retried through the outage budget, then gave up
    assert pfs.inspect_branch("r", "master").head == before.id
    assert [c.id for c in pfs.list_commits("r", "master")] == [before.id]
    server.start()
    assert_consistent(PFS.open(str(tmp_path / "home"), uri), {("r@master", "/before"): b"kept"})


needs_root_mount = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None,
    reason="making a small filesystem needs root (mount -t tmpfs)",
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 24 MiB tmpfs this test mounts and unmounts."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mountpoint)],
                   check=True)  # fmt: skip
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@needs_root_mount
def test_a_full_disk_gives_a_clear_error_and_leaves_nothing_half_written(
    small_disk: Path,
) -> None:
    pfs = PFS.open(str(small_disk / "home"))
    pfs.create_repo("r")
    small = os.urandom(1 << 20)
    before = pfs.put_file("r@master", "/small", small)
    with pytest.raises(StorageError) as failure:
        pfs.put_file("r@master", "/huge", os.urandom(40 << 20))  # bigger than the disk
    message = failure.value.message
    assert "\n" not in message and "full" in message, message
    assert pfs.inspect_branch("r", "master").head == before.id
    assert [f.path for f in pfs.list_files("r@master")] == ["/small"]
    pfs.gc()  # the failed writer's chunks are orphans: gc gives the space back
    again = pfs.put_file("r@master", "/after", b"room again")
    assert again.parent == before.id
    assert_consistent(
        PFS.open(str(small_disk / "home")),
        {("r@master", "/small"): small, ("r@master", "/after"): b"room again"},
    )


@pytest.mark.sqlite_metadata
@needs_root_mount
def test_a_full_disk_under_the_metadata_database_changes_nothing(small_disk: Path) -> None:
    pfs = PFS.open(str(small_disk / "home"))
    pfs.create_repo("r")
    kept = pfs.put_file("r@master", "/a", b"a")
    filler = small_disk / "filler"
    # unbuffered: a partly written block left in a buffer would fail again on close
    with open(filler, "wb", buffering=0) as f, pytest.raises(OSError):
        while True:  # someone else fills the disk
            f.write(b"\0" * (1 << 16))
    with pytest.raises(StorageError) as failure:
        pfs.create_repo("s")
    message = failure.value.message
    assert "metadata database" in message and "full" in message and "\n" not in message
    assert [r.name for r in pfs.list_repos()] == ["r"]
    filler.unlink()
    pfs.create_repo("s")  # space back: writes work again
    assert_consistent(pfs, {("r@master", "/a"): b"a"})
    assert pfs.inspect_branch("r", "master").head == kept.id
