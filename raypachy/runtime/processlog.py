"""A spout's or service's process log: the end of what it printed, in the storage backend.

Kept across restarts (a restarted process appends to it) and rewritten about once a second,
so ``raypachy logs -p`` shows it live; secret values are redacted as in datum logs.
"""

from __future__ import annotations

import contextlib
import threading
import time

from raypachy.pps.longrunning import process_log_key
from raypachy.secrets import redact
from raypachy.storage import open_backend

LOG_BYTES = 1 << 20  # the process log keeps this much of the end of what it printed
LOG_EVERY_S = 1.0


class ProcessLog:
    """The end of what a process printed, kept in the storage backend across restarts."""

    def __init__(self, storage: str, pipeline: str) -> None:
        self.backend = open_backend(storage)
        self.key = process_log_key(pipeline)
        self.lock = threading.Lock()
        try:
            self.data = bytearray(self.backend.get(self.key)[-LOG_BYTES:])
        except Exception:  # none yet
            self.data = bytearray()
        self.dirty = False
        self.hidden: list[str] = []  # values shown as *** (the process's own token)
        threading.Thread(target=self._flush_loop, name="process-log", daemon=True).start()

    def write(self, piece: bytes) -> None:
        with self.lock:
            self.data += piece
            if len(self.data) > 2 * LOG_BYTES:
                del self.data[: len(self.data) - LOG_BYTES]
            self.dirty = True

    def note(self, line: str) -> None:
        self.write(f"[raypachy] {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
                   f"{line}\n".encode())  # fmt: skip

    def flush(self) -> None:
        with self.lock:
            if not self.dirty:
                return
            data, self.dirty = bytes(self.data[-LOG_BYTES:]), False
        text = redact(data.decode("utf-8", "surrogateescape"))
        for value in self.hidden:
            text = text.replace(value, "***")
        with contextlib.suppress(Exception):  # storage away for a moment: the next flush
            self.backend.put(self.key, text.encode("utf-8", "surrogateescape"))

    def _flush_loop(self) -> None:
        while True:
            time.sleep(LOG_EVERY_S)
            self.flush()
