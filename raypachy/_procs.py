"""Process liveness, shared by everything that must tell a dead writer from a live one."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """True while process ``pid`` exists on this host and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # The state letter follows the parenthesised command name.
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(root_pid: int) -> set[int]:
    """``root_pid``, the members of its process group, and all their descendants.

    Ray workers start their own process group, so the group alone would miss them; their
    parent (the raylet) is in the group, so following children finds them.
    """
    parents: dict[int, int] = {}
    group: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or fields[0] in (b"Z", b"X"):
            continue
        pid, ppid, pgid = int(entry), int(fields[1]), int(fields[2])
        parents[pid] = ppid
        if pgid == root_pid:
            group.add(pid)
    tree = {root_pid, *group}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return {p for p in tree if pid_alive(p)}


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_identity(pid: int | None) -> str:
    """What tells process ``pid`` from a later one reusing its pid: the boot and its start
    time (``""`` when unknown)."""
    fields = _stat_fields(pid) if pid and pid > 0 else None
    if fields is None or len(fields) < 20:
        return ""
    return f"{_boot_id()}:{int(fields[19])}"


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def is_same_process(pid: int | None, identity: str, program: str, verb: str) -> bool:
    """Whether ``pid`` is still the process recorded with ``identity``.

    A record without an identity (written by an older version) is trusted only when the
    command line runs ``program`` with ``verb`` (``ray ... start``, ``raypachy serve``):
    after a reboot or with a copied home, the pid may belong to anything.
    """
    if not pid_alive(pid):
        return False
    assert pid is not None
    if identity:
        return process_identity(pid) == identity
    args = _cmdline(pid)
    return any(os.path.basename(a) == program for a in args) and verb in args
