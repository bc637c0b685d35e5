"""Which control plane drives a pipeline: one lease row per pipeline in the metadata store.

Several control planes may serve one database (PostgreSQL shared by two clusters). Each
pipeline's jobs must be driven by exactly one controller at a time, so a controller takes
the pipeline's lease before it claims a job and renews it while it runs one. The lease is
a row of the store's named locks, ``controller:<pipeline>``: its holder (host, pid of the
controller host, when it took the lease) and its last renewal; it expires ``ttl_s`` after
that renewal, or at once when its holder runs on this host and its process is gone.

Taking over a lapsed lease fences the old holder: the writer leases its process holds are
deleted in the same transaction, so a job it was still running can neither checkpoint nor
finish (those writes are checked under the writer lease, ``raypachy.pfs.leases``). The new
holder then resumes the job from its checkpoints.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from raypachy._procs import pid_alive
from raypachy.errors import InvalidArgumentError
from raypachy.pfs.leases import HOST
from raypachy.pfs.metadata import LockRecord, MetadataStore

PREFIX = "controller:"
DEFAULT_TTL_S = 30.0
TTL_ENV = "RAYPACHY_CONTROLLER_LEASE_S"


def lease_ttl() -> float:
    """The lease's life without renewal: ``$RAYPACHY_CONTROLLER_LEASE_S`` or 30 seconds."""
    raw = os.environ.get(TTL_ENV, "")
    if not raw:
        return DEFAULT_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        ttl = 0.0
    if not ttl > 0:
        raise InvalidArgumentError(f"{TTL_ENV}={raw!r}: give the lease's life in seconds (> 0)")
    return ttl


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a pipeline's lease: ``acquired`` tells two terms of one process apart."""

    host: str
    pid: int
    acquired: float

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


def _live(lock: LockRecord, now: float, ttl: float) -> bool:
    if now - lock.heartbeat > ttl:
        return False
    return lock.host != HOST or pid_alive(lock.pid)


class ControllerLeases:
    """Take, renew and release pipelines' controller leases."""

    def __init__(self, meta: MetadataStore, ttl_s: float | None = None) -> None:
        self.meta = meta
        self.ttl_s = lease_ttl() if ttl_s is None else ttl_s

    def take(self, pipeline: str, host: str, pid: int) -> Holder | None:
        """The lease for (host, pid) if it is free, lapsed or theirs already (renewed then);
        None while another live holder has it."""
        name = PREFIX + pipeline
        # Asking costs no write while another holds it: every write moves the change counter,
        # which wakes every control plane's controllers.
        with self.meta.read() as tx:
            lock = tx.lock(name)
        if lock is not None and _live(lock, time.time(), self.ttl_s):
            if (lock.host, lock.pid) != (host, pid):
                return None
            if time.time() - lock.heartbeat < self.ttl_s / 3:  # fresh: renewed soon enough
                return Holder(host, pid, lock.acquired)
        with self.meta.write() as tx:
            now = time.time()
            lock = tx.lock(name)
            if lock is not None and (lock.host, lock.pid) == (host, pid):
                tx.renew_lock(name, host, pid, lock.acquired, now)
                return Holder(host, pid, lock.acquired)
            if lock is not None and _live(lock, now, self.ttl_s):
                return None
            if lock is not None:  # lapsed: its holder may not write under its leases again
                for lease in tx.leases():
                    if (lease.host, lease.pid) == (lock.host, lock.pid):
                        tx.delete_lease(lease.id)
            tx.take_lock(LockRecord(name, host, pid, now, now))
            return Holder(host, pid, now)

    def renew(self, pipeline: str, holder: Holder) -> bool:
        """Renew the lease; False if ``holder`` lost it (it expired and another took it)."""
        with self.meta.write() as tx:
            return tx.renew_lock(
                PREFIX + pipeline, holder.host, holder.pid, holder.acquired, time.time()
            )

    def release(self, pipeline: str, holder: Holder) -> None:
        """Give the lease up (a no-op if ``holder`` no longer has it)."""
        with self.meta.write() as tx:
            tx.release_lock(PREFIX + pipeline, holder.host, holder.pid, holder.acquired)

    def holder(self, pipeline: str) -> Holder | None:
        """Who holds the pipeline's live lease, if anyone."""
        with self.meta.read() as tx:
            lock = tx.lock(PREFIX + pipeline)
        if lock is None or not _live(lock, time.time(), self.ttl_s):
            return None
        return Holder(lock.host, lock.pid, lock.acquired)
