"""``file:///path``: keys are files under a root directory.

Writes go to a temporary file in the target directory and are renamed into place, so
a key holds a whole value or nothing, even if the writer is killed. What it creates is
readable by its owner only (files 0600, directories 0700). Durability is one
``syncfs`` per batch of writes (``sync()``) instead of one fsync per file.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import time
from collections.abc import Iterator
from urllib.parse import unquote, urlparse

from raypachy._private import FILE_MODE, make_dirs
from raypachy._procs import pid_alive
from raypachy.errors import BackendError, ObjectMissingError
from raypachy.storage.backend import check_key

_TMP_MARK = ".tmp."
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class FileBackend:
    """Files under ``root``; temporary files are hidden from ``list`` and swept by ``gc``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.uri = f"file://{self.root}"
        make_dirs(self.root)

    @classmethod
    def from_uri(cls, uri: str) -> FileBackend:
        parsed = urlparse(uri)
        path = unquote(parsed.netloc + parsed.path) if parsed.scheme else uri
        return cls(os.path.expanduser(path))

    def _path(self, key: str) -> str:
        return os.path.join(self.root, check_key(key))

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectMissingError(f"{self.uri}/{key} is missing") from None
        except OSError as e:
            raise BackendError(f"cannot read {self.uri}/{key}: {e.strerror}") from e

    def read_prefix(self, key: str, n: int) -> tuple[bytes, int]:
        try:
            with open(self._path(key), "rb") as f:
                return f.read(n), os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            raise ObjectMissingError(f"{self.uri}/{key} is missing") from None
        except OSError as e:
            raise BackendError(f"cannot read {self.uri}/{key}: {e.strerror}") from e

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f".{name}{_TMP_MARK}{os.getpid()}.{secrets.token_hex(4)}")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            except FileNotFoundError:
                make_dirs(directory)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            hint = " (the disk is full)" if e.errno == errno.ENOSPC else ""
            raise BackendError(f"cannot write {self.uri}/{key}: {e.strerror}{hint}") from e

    def exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        start = os.path.join(self.root, os.path.dirname(prefix))
        for dirpath, _dirs, files in os.walk(start):
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in files:
                if _TMP_MARK in name and name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def sync(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _libc.syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)

    def local_path(self, key: str) -> str | None:
        return self._path(key)

    def sweep_temp_files(self, min_age_s: float = 3600.0) -> int:
        """Delete temporary files left by killed writers; returns how many were removed.

        A temp file is removed when its writer process is gone, or when it is older than
        ``min_age_s`` (a writer on another host).
        """
        removed = 0
        now = time.time()
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if not (name.startswith(".") and _TMP_MARK in name):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    pid = int(name.rsplit(_TMP_MARK, 1)[1].split(".")[0])
                    old = now - os.path.getmtime(path) > min_age_s
                except (ValueError, OSError):
                    continue
                if old or not pid_alive(pid):
                    try:
                        os.unlink(path)
                        removed += 1
                    except OSError:
                        pass
        return removed
