"""``memory://name``: an in-process backend, first-class for tests (not a mock of anything)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlparse

from raypachy.errors import ObjectMissingError
from raypachy.storage.backend import check_key

_STORES: dict[str, dict[str, bytes]] = {}
_LOCK = threading.Lock()


class MemoryBackend:
    """Keys live in a dict shared by every ``MemoryBackend`` opened with the same name."""

    def __init__(self, name: str = "default") -> None:
        self.uri = f"memory://{name}"
        with _LOCK:
            self._data = _STORES.setdefault(name, {})

    @classmethod
    def from_uri(cls, uri: str) -> MemoryBackend:
        parsed = urlparse(uri)
        return cls((parsed.netloc + parsed.path).strip("/") or "default")

    def get(self, key: str) -> bytes:
        try:
            return self._data[check_key(key)]
        except KeyError:
            raise ObjectMissingError(f"{self.uri}/{key} is missing") from None

    def read_prefix(self, key: str, n: int) -> tuple[bytes, int]:
        data = self.get(key)
        return data[:n], len(data)

    def put(self, key: str, data: bytes) -> None:
        self._data[check_key(key)] = bytes(data)

    def exists(self, key: str) -> bool:
        return check_key(key) in self._data

    def list(self, prefix: str = "") -> Iterator[str]:
        with _LOCK:
            keys = [k for k in self._data if k.startswith(prefix)]
        yield from keys

    def delete(self, key: str) -> None:
        self._data.pop(check_key(key), None)

    def sync(self) -> None:
        return None

    def local_path(self, key: str) -> str | None:
        return None
