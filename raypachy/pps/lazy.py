"""Lazy inputs (``input.pfs.lazy: true``): a datum's files are read from storage on demand.

Nothing of a lazy input is copied before the transform runs. A command sees each file as a
named pipe (FIFO) at its usual ``/pfs/<input>/<path>``; one feeder thread per datum opens a
pipe for writing only once the command has opened it for reading, and fetches the file's
chunks one at a time as the command consumes them, so a command that reads 1 MB of a 1 GB
file moves about one chunk. A Python transform reads through ``datum.open(path)``, a seekable
stream that fetches only the chunks holding the bytes it asks for.

Pachyderm's gotcha is a writer blocked forever on a pipe nobody opens: here the feeder never
blocks (it polls with non-blocking opens and writes) and stops when the command ends, read or
not. Each open gets its own stream from the first byte: as soon as a reader has opened a
pipe, a fresh one is renamed over its path (the reader keeps the old one), so reading a file
twice, or again after ``head -c`` closed it early, works (and fetches it again). Only opens
racing each other before the feeder notices the first share one stream.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import selectors
import threading
import time
from collections.abc import Iterator
from typing import Any

from raypachy.storage.entries import FileData
from raypachy.storage.reader import iter_bytes, range_refs

POLL_MIN_S = 0.001  # how soon a pipe opened by the command is noticed while it is busy
POLL_MAX_S = 0.05  # ... and while it is idle (the poll backs off up to this)
PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged pipe size
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class _Stream:
    """One opened pipe: the file's bytes, fetched a chunk at a time."""

    def __init__(self, fd: int, path: str, pieces: Iterator[bytes]) -> None:
        self.fd, self.path, self.pieces = fd, path, pieces
        self.buffer = memoryview(b"")


class PipeFeeder:
    """Feeds the named pipes of one datum's lazy files while its transform runs.

    ``add(path, data)`` makes the pipe (once per datum); ``start()`` begins feeding every
    pipe (again, for a retried datum); ``stop()`` ends it whether or not the pipes were read.
    ``fetched`` counts the bytes taken from storage. ``spare_dir`` (on the pipes' filesystem,
    outside what the transform sees) is where a fresh pipe is made before it replaces one.
    """

    def __init__(self, reader: Any, spare_dir: str) -> None:
        self.reader, self.spare = reader, os.path.join(spare_dir, "spare-pipe")
        self.files: dict[str, FileData] = {}
        self.fetched = 0
        self.error = ""  # why a pipe was cut short (storage failed): the try fails with it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, path: str, data: FileData) -> None:
        os.mkfifo(path, 0o644)
        self.files[path] = data

    def __bool__(self) -> bool:
        return bool(self.files)

    def start(self) -> None:
        if not self.files or self._thread is not None:
            return
        self._stop.clear()
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="lazy-pipes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def clear(self) -> None:
        """The datum is done: forget its pipes (the runner unlinks them)."""
        self.stop()
        self.files.clear()

    def _open(self, path: str) -> int | None:
        """The pipe's write end if a reader has it open now, else None (never blocks)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ENXIO, errno.ENOENT):  # no reader yet; or removed
                return None
            raise
        with contextlib.suppress(OSError):  # a bigger pipe: fewer wake-ups per chunk
            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
        return fd

    def _renew(self, path: str) -> None:
        """Put a fresh pipe at ``path``; whoever opened the old one keeps it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.spare)
        os.mkfifo(self.spare, 0o644)
        os.rename(self.spare, path)

    def _run(self) -> None:
        pending = dict(self.files)
        streams: dict[int, _Stream] = {}
        poll = POLL_MIN_S
        next_poll = 0.0
        with selectors.DefaultSelector() as selector:
            try:
                while not self._stop.is_set():
                    now = time.monotonic()
                    if pending and now >= next_poll:
                        opened = False
                        for path, data in pending.items():
                            fd = self._open(path)
                            if fd is not None:
                                streams[fd] = _Stream(fd, path, iter_bytes(self.reader, data))
                                selector.register(fd, selectors.EVENT_WRITE)
                                self._renew(path)  # the next open of the path: a new stream
                                opened = True
                        poll = POLL_MIN_S if opened or streams else min(poll * 2, POLL_MAX_S)
                        next_poll = now + poll
                    if not streams:
                        self._stop.wait(max(0.0, next_poll - time.monotonic()))
                        continue
                    wait = max(0.0, next_poll - time.monotonic())
                    for key, _ in selector.select(wait):
                        stream = streams[key.fd]
                        if not self._feed(stream):
                            selector.unregister(key.fd)
                            os.close(key.fd)  # the end of the file: the reader sees EOF
                            del streams[key.fd]
            except Exception as e:  # a pipe the feeder cannot make: the try fails with it
                self.error = self.error or f"lazy input pipes failed: {type(e).__name__}: {e}"
            finally:
                for fd in streams:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        if self.error:
            self._refuse(pending)

    def _refuse(self, paths: dict[str, FileData]) -> None:
        """After a failure, answer every open with an immediate end of file until the try
        ends, so that no reader waits forever on a pipe nobody will feed."""
        while not self._stop.wait(POLL_MIN_S * 10):
            for path in paths:
                with contextlib.suppress(OSError):
                    fd = self._open(path)
                    if fd is not None:
                        os.close(fd)

    def _feed(self, stream: _Stream) -> bool:
        """Write what the pipe takes now; False when the stream is done (or its reader left)."""
        while True:
            if not stream.buffer:
                try:
                    piece = next(stream.pieces, None)  # fetches the next chunk from storage
                except Exception as e:  # the reader gets a short file: the try must fail
                    self.error = self.error or (
                        f"reading lazy file {stream.path} failed: {type(e).__name__}: {e}"
                    )
                    return False
                if piece is None:
                    return False
                self.fetched += len(piece)
                stream.buffer = memoryview(piece)
            try:
                written = os.write(stream.fd, stream.buffer)
            except BlockingIOError:
                return True
            except BrokenPipeError:  # the reader closed it early (`head -c`): stop fetching
                return False
            stream.buffer = stream.buffer[written:]


class LazyFile(io.RawIOBase):
    """A read-only, seekable file whose bytes come from storage only when read."""

    def __init__(self, reader: Any, data: FileData, name: str) -> None:
        super().__init__()
        self.reader, self.data, self.name = reader, data, name
        self.pos = 0
        self.fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.data.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self.pos = base + offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self.pos + len(view), self.data.size)
        n = 0
        for ref, first, last in range_refs(self.data, self.pos, end):
            piece = self.reader.get(ref.chunk)[ref.offset + first : ref.offset + last]
            self.fetched += len(piece)
            view[n : n + len(piece)] = piece
            n += len(piece)
        self.pos += n
        return n
