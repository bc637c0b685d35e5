"""The byte backend interface and the registry that picks a backend by URI scheme.

A backend knows keys and bytes, nothing else: no hashing, no compression, no commits.
``open_backend("file:///data")``, ``open_backend("s3://bucket/prefix")`` and
``open_backend("memory://name")`` return one; implementations are imported lazily so
that boto3 is loaded only for ``s3://``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

from raypachy.errors import InvalidArgumentError

# One segment of a key: no dot-only segments, no NUL, no backslash.
_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def check_key(key: str) -> str:
    """Refuse keys that could escape the backend's root or prefix (``..``, ``/x``, NUL)."""
    if not _KEY_RE.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise InvalidArgumentError(f"invalid storage key {key!r}: keys are relative, with no '..'")
    return key


@runtime_checkable
class Backend(Protocol):
    """Keys to bytes. ``put`` is atomic: a reader sees the whole value or nothing."""

    uri: str

    def get(self, key: str) -> bytes:
        """Return the bytes at ``key``; ``ObjectMissingError`` if there are none."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` atomically, replacing what was there."""
        ...

    def exists(self, key: str) -> bool: ...

    def read_prefix(self, key: str, n: int) -> tuple[bytes, int]:
        """The first ``n`` bytes at ``key`` and its whole size, without reading the rest;
        ``ObjectMissingError`` if there are none."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield every key starting with ``prefix`` (in no particular order)."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def sync(self) -> None:
        """Make every completed ``put`` durable (a no-op where puts already are)."""
        ...

    def local_path(self, key: str) -> str | None:
        """A local filesystem path holding ``key``'s bytes, if the backend has one."""
        ...


_SCHEMES: dict[str, str] = {
    "file": "raypachy.storage.file:FileBackend",
    "memory": "raypachy.storage.memory:MemoryBackend",
    "s3": "raypachy.storage.s3:S3Backend",
}


def open_backend(uri: str) -> Backend:
    """Open the backend for ``uri`` (``file://``, ``s3://``, ``memory://``)."""
    scheme = urlparse(uri).scheme or "file"
    target = _SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in sorted(_SCHEMES))
        raise InvalidArgumentError(f"unknown storage URI scheme in {uri!r}: use one of {known}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = cls.from_uri(uri)
    return backend
