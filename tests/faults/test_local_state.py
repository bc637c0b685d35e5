"""The local installation on a shared machine: its home is private, and a stale cluster.json
never makes `down` signal processes that are not the ones `up` started."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from raypachy._procs import pid_alive, process_identity
from raypachy.pfs import PFS
from raypachy.runtime.cluster import down
from raypachy.runtime.state import ClusterState, read_state, write_state
from raypachy.secrets import ensure_local_token, read_local_token
from raypachy.storage.chunkstore import CHUNK_PREFIX


def _mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.sqlite_metadata
def test_a_new_home_is_readable_by_its_owner_only(tmp_path: Path, usual_umask: None) -> None:
    home = tmp_path / "home"
    pfs = PFS.open(str(home))
    pfs.create_repo("r")
    pfs.put_file("r@master", "/private.csv", b"salary,123\n")
    chunk = pfs.backend.local_path(next(iter(pfs.backend.list(CHUNK_PREFIX))))
    assert chunk is not None
    assert _mode(home) == 0o700
    files = [p for p in (home / "storage").rglob("*") if p.is_file()]
    assert Path(chunk) in files and any("manifests" in p.parts for p in files)
    for path in (home / "metadata.db", *files):
        assert _mode(path) == 0o600, path
    for path in (home / "storage", *(home / "storage").rglob("*")):
        if path.is_dir():
            assert _mode(path) == 0o700, path
    wal = home / "metadata.db-wal"
    assert not wal.exists() or _mode(wal) == 0o600


@pytest.mark.sqlite_metadata
def test_an_existing_home_is_made_private(tmp_path: Path, usual_umask: None) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "metadata.db").touch(mode=0o644)
    PFS.open(str(home)).create_repo("r")
    assert _mode(home) == 0o700 and _mode(home / "metadata.db") == 0o600


def test_the_local_token_is_private_and_one_per_home(tmp_path: Path, usual_umask: None) -> None:
    home = tmp_path / "home"
    with ThreadPoolExecutor(8) as pool:  # many commands starting at once agree on one token
        tokens = set(pool.map(lambda _: ensure_local_token(home), range(16)))
    assert len(tokens) == 1 and read_local_token(home) in tokens
    assert len(next(iter(tokens))) >= 40  # 32 random bytes
    assert _mode(home / "token") == 0o600 and _mode(home) == 0o700
    assert [p.name for p in home.iterdir()] == ["token"]  # no temporary file left behind
    write_state(ClusterState(str(home), "memory://x", "http://127.0.0.1:1", "", "", None, 0.0))
    assert _mode(home / "cluster.json") == 0o600


@contextmanager
def _processes(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """Two programs whose command lines look like what `up` starts (`ray start --head`,
    `raypachy serve`): what a stale pid could belong to. Stopped by process group at the end."""
    procs = []
    for name, verb in (("ray", "start"), ("raypachy", "serve")):
        script = tmp_path / name
        script.write_text("#!/bin/sh\nsleep 300\n")
        script.chmod(0o755)
        procs.append(subprocess.Popen([str(script), verb, "--head"], start_new_session=True))
    try:
        deadline = time.monotonic() + 10
        while any(b"sleep" in Path(f"/proc/{p.pid}/cmdline").read_bytes() or
                  str(tmp_path).encode() not in Path(f"/proc/{p.pid}/cmdline").read_bytes()
                  for p in procs):  # fmt: skip
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield procs[0], procs[1]
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _state(home: Path, ray_pid: int, control_pid: int, ray_id: str, control_id: str) -> None:
    home.mkdir(exist_ok=True)
    write_state(ClusterState(str(home), "memory://x", "http://127.0.0.1:9", "", "127.0.0.1:9",
                             ray_pid, 0.0, control_pid, ray_identity=ray_id,
                             control_identity=control_id))  # fmt: skip


def test_down_leaves_alone_processes_a_stale_state_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    shell = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    try:
        # Written by an older version (no identities), after a reboot: other programs now.
        _state(home, shell.pid, sleeper.pid, "", "")
        assert down(str(home)) is None  # nothing of ours was running
        time.sleep(0.3)
        assert pid_alive(shell.pid) and pid_alive(sleeper.pid)
        assert read_state(str(home)) is None  # the stale state is forgotten
    finally:
        for p in (sleeper, shell):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_down_checks_the_recorded_identity(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with _processes(tmp_path) as (ray, control):
        # Same pids and look-alike command lines, but started after the recorded ones.
        _state(home, ray.pid, control.pid, "another-boot:1", "another-boot:2")
        assert down(str(home)) is None
        time.sleep(0.3)
        assert ray.poll() is None and control.poll() is None
        # The processes `up` did record are stopped.
        _state(home, ray.pid, control.pid, process_identity(ray.pid), process_identity(control.pid))
        assert down(str(home)) is not None
        assert ray.wait(10) is not None and control.wait(10) is not None
