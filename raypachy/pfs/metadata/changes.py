"""A change counter for the metadata: waiters sleep until it moves instead of polling.

Every write transaction of this process bumps it; writes from other clients of the same
database (another process) are seen through a probe the store gives ``wait`` (SQLite's
``PRAGMA data_version``), called while it waits. Versions only ever differ: the counter
starts from the clock, so a restarted process never repeats the one before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: How often a waiter looks for writes from other connections.
PROBE_S = 0.25


class Changes:
    def __init__(self) -> None:
        self._version = time.time_ns() // 1000
        self._cond = threading.Condition()

    @property
    def version(self) -> int:
        return self._version

    def bump(self) -> int:
        with self._cond:
            self._version += 1
            self._cond.notify_all()
            return self._version

    def wait(
        self, since: int | None, timeout: float, probe: Callable[[], bool] | None = None
    ) -> int:
        """The version once it differs from ``since`` (at once if it does), or after
        ``timeout`` seconds; ``probe()`` says whether someone else wrote meanwhile."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._version == since:
                if probe is not None and probe():
                    self._version += 1
                    self._cond.notify_all()
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, PROBE_S) if probe else left)
            return self._version
