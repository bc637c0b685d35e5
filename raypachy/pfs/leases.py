"""Writers and the garbage collector exclude each other.

A writer holds a lease from before its first chunk is written until its layer is
registered in a commit; ``gc`` runs only when no live lease exists and blocks new ones
while it runs. So gc never deletes a chunk that an in-flight writer deduplicated against
or has just written. A lease is live while its heartbeat is fresh and, on this host, its
process still exists: a writer killed with SIGKILL stops protecting its orphans at once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from raypachy._procs import pid_alive
from raypachy.errors import GCBusyError
from raypachy.pfs.metadata import MetadataStore

LEASE_TTL_S = 120.0
HEARTBEAT_S = 20.0
GC_LOCK = "gc"
HOST = _HOST = socket.gethostname()


def _alive(host: str, pid: int, heartbeat: float, now: float) -> bool:
    if now - heartbeat > LEASE_TTL_S:
        return False
    return host != _HOST or pid_alive(pid)


class Leases:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def acquire(self, host: str = _HOST, pid: int | None = None, wait_s: float = 120.0) -> str:
        """Take a writer lease for a process (waits while gc runs); returns its id."""
        lease_id = uuid.uuid4().hex
        pid = os.getpid() if pid is None else pid
        deadline = time.monotonic() + wait_s
        while True:
            with self.meta.write() as tx:
                lock = tx.lock(GC_LOCK)
                now = time.time()
                if lock is None or not _alive(*lock, now):
                    tx.insert_lease(lease_id, host, pid, now)
                    return lease_id
            if time.monotonic() > deadline:
                raise GCBusyError("garbage collection is running; retry the write when it ends")
            time.sleep(0.1)

    def heartbeat(self, lease_id: str) -> None:
        with self.meta.write() as tx:
            tx.heartbeat_lease(lease_id, time.time())

    def release(self, lease_id: str) -> None:
        with self.meta.write() as tx:
            tx.delete_lease(lease_id)

    @contextmanager
    def writer(self) -> Iterator[str]:
        """Hold a writer lease for this process for the duration of the block."""
        lease_id = self.acquire()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(lease_id, stop), daemon=True)
        beat.start()
        try:
            yield lease_id
        finally:
            stop.set()
            self.release(lease_id)

    def _beat(self, lease_id: str, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            self.heartbeat(lease_id)

    @contextmanager
    def gc(self) -> Iterator[None]:
        """Hold the gc lock; ``GCBusyError`` if a live writer (or another gc) is running."""
        with self.meta.write() as tx:
            now = time.time()
            lock = tx.lock(GC_LOCK)
            if lock is not None and _alive(*lock, now):
                raise GCBusyError("another garbage collection is running")
            live = 0
            for lease_id, host, pid, _started, heartbeat in tx.leases():
                if _alive(host, pid, heartbeat, now):
                    live += 1
                else:
                    tx.delete_lease(lease_id)  # its writer is dead; its chunks are orphans
            if live:
                raise GCBusyError(
                    f"{live} writer(s) are putting data; run gc again when they finish"
                )
            tx.take_lock(GC_LOCK, _HOST, os.getpid(), now)
        try:
            yield
        finally:
            with self.meta.write() as tx:
                tx.release_lock(GC_LOCK, _HOST, os.getpid())
