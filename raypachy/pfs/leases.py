"""Writers and the garbage collector exclude each other.

A writer holds a lease from before its first chunk or manifest is written until the
metadata transaction that references them, and that transaction checks the lease is still
live; ``gc`` runs only when no live lease exists and blocks new ones while it runs. So gc
never deletes a chunk that an in-flight writer deduplicated against or has just written.
A lease is live while its heartbeat is fresh, while it is younger than its bound (leases
issued to API callers have one) and, on this host, while its process exists: a writer
killed with SIGKILL stops protecting its orphans at once.

Both sides renew what they hold: writers heartbeat their lease, gc its lock. A lease that
lapsed is dead for good (heartbeats and registrations under it fail, since gc may have
run); a gc that cannot renew its lock deletes nothing more. A writer that finds the gc lock
stale breaks it, so the gc that held it can no longer renew it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from raypachy._procs import pid_alive
from raypachy.errors import GCBusyError, LeaseExpiredError
from raypachy.pfs.metadata import LeaseRecord, LockRecord, MetadataStore, Tx

LEASE_TTL_S = 120.0
HEARTBEAT_S = 20.0
#: The longest a lease issued to an API caller lives, heartbeats or not: no caller can
#: keep gc out for longer.
LEASE_MAX_S = 12 * 3600.0
GC_LOCK = "gc"
HOST = _HOST = socket.gethostname()


def beat_interval() -> float:
    """How often holders renew: well inside the TTL (read at call time, tests shorten it)."""
    return min(HEARTBEAT_S, LEASE_TTL_S / 6)


def _alive(host: str, pid: int, heartbeat: float, now: float, expires: float | None = None) -> bool:
    if now - heartbeat > LEASE_TTL_S or (expires is not None and now > expires):
        return False
    return host != _HOST or pid_alive(pid)


def beat_until(
    stop: threading.Event, beat: Callable[[], None], on_lost: Callable[[str], None]
) -> None:
    """Call ``beat`` every ``beat_interval()`` until ``stop`` is set. A failed beat is retried
    within a second or so; ``LeaseExpiredError``, or no successful beat for a whole TTL, ends
    the loop with ``on_lost(why)`` (the write under the lease then fails, saying why)."""
    wait = beat_interval()
    last_ok = time.monotonic()
    while not stop.wait(wait):
        try:
            beat()
        except LeaseExpiredError as e:
            on_lost(e.message)
            return
        except Exception as e:  # a busy or restarting metadata store: try again soon
            if time.monotonic() - last_ok > LEASE_TTL_S:
                on_lost(f"no heartbeat got through for {LEASE_TTL_S:g}s ({type(e).__name__}: {e})")
                return
            wait = min(1.0, beat_interval())
        else:
            last_ok = time.monotonic()
            wait = beat_interval()


def lapsed(lease_id: str) -> LeaseExpiredError:
    """The error for a write whose lease is gone."""
    if not lease_id:
        return LeaseExpiredError(
            "no write lease given: take one before writing chunks (POST /v1/leases) and "
            "register the layer with it"
        )
    return LeaseExpiredError(
        f"write lease {lease_id} expired or is unknown, so garbage collection may have "
        "removed what was written under it: write the data again"
    )


class GCLock:
    """The gc lock while gc holds it: renewed in the background; ``check()`` before deleting."""

    def __init__(self, meta: MetadataStore, acquired: float) -> None:
        self.meta = meta
        self.acquired = acquired
        self._renewed = time.monotonic()
        self._lost = ""
        self._stop = threading.Event()

    def renew(self) -> None:
        try:
            with self.meta.write() as tx:
                ok = tx.renew_lock(GC_LOCK, _HOST, os.getpid(), self.acquired, time.time())
        except Exception:  # the database is busy or away: check() decides when it is too late
            return
        if ok:
            self._renewed = time.monotonic()
        else:
            self._lost = "its lock lapsed and writers went ahead"

    def check(self) -> None:
        """Raise ``GCBusyError`` unless the lock was renewed recently: deleting anything
        after the lock may have lapsed could remove what a writer just stored."""
        limit = LEASE_TTL_S / 3
        if not self._lost and time.monotonic() - self._renewed > limit:
            self.renew()  # the background renewal is late: renew now, or stop
            if not self._lost and time.monotonic() - self._renewed > limit:
                self._lost = "it could not renew its lock"
        if self._lost:
            raise GCBusyError(
                f"garbage collection stopped early: {self._lost}; nothing more was deleted. "
                "Run gc again"
            )

    def run(self) -> None:
        while not self._stop.wait(beat_interval()) and not self._lost:
            self.renew()

    def stop(self) -> None:
        self._stop.set()


class Leases:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta
        #: Called once when a writer starts waiting for a running gc (a test hook).
        self.on_wait: Callable[[], None] | None = None

    def acquire(
        self,
        host: str = _HOST,
        pid: int | None = None,
        wait_s: float = 120.0,
        max_s: float | None = None,
    ) -> str:
        """Take a writer lease for a process (waits while gc runs); returns its id.

        ``max_s`` bounds the lease's life whatever its heartbeats (leases of API callers).
        """
        lease_id = uuid.uuid4().hex
        pid = os.getpid() if pid is None else pid
        deadline = time.monotonic() + wait_s
        waiting = False
        while True:
            with self.meta.write() as tx:
                lock = tx.lock(GC_LOCK)
                now = time.time()
                if lock is None or not _alive(lock.host, lock.pid, lock.heartbeat, now):
                    if lock is not None:
                        tx.break_lock(GC_LOCK)  # its gc stopped renewing: it may not go on
                    expires = None if max_s is None else now + max_s
                    tx.insert_lease(LeaseRecord(lease_id, host, pid, now, now, expires))
                    return lease_id
            if time.monotonic() > deadline:
                raise GCBusyError("garbage collection is running; retry the write when it ends")
            if not waiting and self.on_wait is not None:
                self.on_wait()
            waiting = True
            time.sleep(0.1)

    def require(self, tx: Tx, lease_id: str) -> None:
        """Inside the transaction that references a writer's objects: its lease must be live
        (then gc has not run since the lease was taken, and the objects are all there)."""
        row = tx.lease(lease_id) if lease_id else None
        if row is None or not _alive(row.host, row.pid, row.heartbeat, time.time(), row.expires):
            raise lapsed(lease_id)

    def check(self, lease_id: str) -> None:
        """``LeaseExpiredError`` unless the lease is live now (before work that needs it)."""
        with self.meta.read() as tx:
            self.require(tx, lease_id)

    def heartbeat(self, lease_id: str) -> None:
        """Renew a live lease; ``LeaseExpiredError`` if it is unknown or lapsed."""
        with self.meta.write() as tx:
            self.require(tx, lease_id)
            tx.heartbeat_lease(lease_id, time.time())

    def release(self, lease_id: str) -> None:
        with self.meta.write() as tx:
            tx.delete_lease(lease_id)

    @contextmanager
    def writer(self) -> Iterator[str]:
        """Hold a writer lease for this process for the duration of the block."""
        lease_id = self.acquire()
        stop = threading.Event()
        threading.Thread(target=self._beat, args=(lease_id, stop), daemon=True).start()
        try:
            yield lease_id
        finally:
            stop.set()
            self.release(lease_id)

    @contextmanager
    def keep(self, lease_id: str) -> Iterator[None]:
        """Keep someone's live lease alive during a block (``LeaseExpiredError`` if it is
        not live now); the holder still releases it."""
        self.heartbeat(lease_id)
        stop = threading.Event()
        threading.Thread(target=self._beat, args=(lease_id, stop), daemon=True).start()
        try:
            yield
        finally:
            stop.set()

    def _beat(self, lease_id: str, stop: threading.Event) -> None:
        # A lapsed lease needs no report here: the transaction that would reference its
        # objects checks the lease and refuses.
        beat_until(stop, lambda: self.heartbeat(lease_id), lambda _why: None)

    @contextmanager
    def gc(self) -> Iterator[GCLock]:
        """Hold the gc lock; ``GCBusyError`` if a live writer (or another gc) is running."""
        with self.meta.write() as tx:
            now = time.time()
            lock = tx.lock(GC_LOCK)
            if lock is not None and _alive(lock.host, lock.pid, lock.heartbeat, now):
                raise GCBusyError("another garbage collection is running")
            live = 0
            for lease in tx.leases():
                if _alive(lease.host, lease.pid, lease.heartbeat, now, lease.expires):
                    live += 1
                else:
                    tx.delete_lease(lease.id)  # its writer is dead; its chunks are orphans
            if not live:
                tx.take_lock(LockRecord(GC_LOCK, _HOST, os.getpid(), now, now))
        if live:
            raise GCBusyError(f"{live} writer(s) are putting data; run gc again when they finish")
        held = GCLock(self.meta, now)
        threading.Thread(target=held.run, name="raypachy-gc-lock", daemon=True).start()
        try:
            yield held
        finally:
            held.stop()
            with self.meta.write() as tx:
                tx.release_lock(GC_LOCK, _HOST, os.getpid(), now)
