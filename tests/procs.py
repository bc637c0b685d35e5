"""Finding the processes a test started, wherever they went (Ray heads run in sessions of
their own, and outlive the command that started them), by a variable of their environment."""

from __future__ import annotations

import os
import time

from raypachy._procs import pid_alive


def ends_with_this_process(pid: int) -> bool:
    """Python's multiprocessing helpers (resource tracker, forkserver) of this process: they
    exit when it does, so they are not left behind."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            parent = int(f.read().rsplit(b")", 1)[1].split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, IndexError, ValueError):
        return False
    return parent == os.getpid() and b"from multiprocessing." in cmdline


def with_env(name: str, value: str) -> list[int]:
    """Live processes (not this one, nor its helpers) whose environment has ``name=value``."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid() or ends_with_this_process(int(entry)):
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if wanted in environ and pid_alive(int(entry)):
            found.append(int(entry))
    return sorted(found)


def wait_gone(name: str, value: str, seconds: float = 30) -> list[int]:
    """The processes with ``name=value`` still alive after ``seconds`` (empty when none)."""
    deadline = time.monotonic() + seconds
    while (left := with_env(name, value)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def describe(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = "?"
        lines.append(f"{pid}: {cmd[:200]}")
    return "\n".join(lines)
