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
