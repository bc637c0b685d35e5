"""Whether a running control plane serves a home: the library then reads it but never writes.

The control plane is the single writer of a home's metadata: it creates the jobs a commit
triggers. A commit written beside it through the library (``PFS.open``) would trigger
nothing, so ``PFS`` refuses to write to a served home and says to go through the cluster.
The control plane holds an exclusive ``flock`` on ``<home>/serving.lock`` for as long as it
runs; the kernel drops it when the process dies, so a crash never leaves a stale claim.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from raypachy.errors import ConflictError

LOCK_FILE = "serving.lock"


def lock_path(home: str) -> str:
    return os.path.join(home, LOCK_FILE)


def hold(home: str) -> threading.Thread:
    """Claim the home for this process, in the background (a control plane that restarts
    while its old process exits waits for it), for the life of the process."""

    def claim() -> None:
        fd = os.open(lock_path(home), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # kept open: released only when the process ends

    thread = threading.Thread(target=claim, name="raypachy-serving-lock", daemon=True)
    thread.start()
    return thread


def served(home: str) -> bool:
    """True while a control plane holds the home."""
    try:
        fd = os.open(lock_path(home), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing drops the shared lock if we got it
    return False


def refuse_if_served(home: str) -> None:
    if served(home):
        raise ConflictError(
            f"{home} is served by a running raypachy cluster: write through it "
            "(raypachy.connect(), or the raypachy CLI) so that pipelines see the change; "
            "PFS.open() reads a served home but writes only when no cluster runs on it"
        )
