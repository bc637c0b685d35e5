"""A content-addressed store of chunks over any byte backend.

A chunk's id is the BLAKE3 hash of its plain bytes. On the backend it lives at
``chunks/<id[:2]>/<id>`` as one header byte (raw or zstd) and the payload. An existing
chunk is never written twice, and every read is verified against the id: a corrupted
chunk is an error that names it, never wrong bytes.

A read that finds a chunk corrupted leaves a marker (``suspect/<id>``) that every process
sees. Putting the same bytes again then checks the stored chunk instead of skipping it, and
rewrites it if it is still bad: re-uploading a file repairs it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict

import blake3
import zstandard

from raypachy.errors import ChunkCorruptedError, ObjectMissingError
from raypachy.storage.backend import Backend

RAW = b"\x00"
ZSTD = b"\x01"
CHUNK_PREFIX = "chunks/"
SUSPECT_PREFIX = "suspect/"
SUSPECTS_TTL_S = 10.0  # how long a process trusts its list of suspect chunks
_ZSTD_HEADER_MAX = 18  # the longest zstd frame header, which holds the content size


def chunk_key(chunk_id: bytes) -> str:
    hex_id = chunk_id.hex()
    return f"{CHUNK_PREFIX}{hex_id[:2]}/{hex_id}"


def chunk_id_from_key(key: str) -> bytes | None:
    name = key.rsplit("/", 1)[-1]
    try:
        raw = bytes.fromhex(name)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def hash_bytes(data: bytes | memoryview) -> bytes:
    digest: bytes = blake3.blake3(data).digest()
    return digest


class _LRU:
    """A byte-bounded LRU of decompressed chunks, so reading many small packed files
    does not fetch and decompress the same chunk once per file."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: bytes, value: bytes) -> None:
        if len(value) > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


class ChunkStore:
    """Put and get chunks by id; thread-safe; the zstd contexts are per thread."""

    def __init__(self, backend: Backend, level: int = 1, cache_bytes: int = 64 << 20) -> None:
        self.backend = backend
        self.level = level
        self._local = threading.local()
        self._cache = _LRU(cache_bytes)
        self._suspects: set[bytes] = set()
        self._suspects_read = float("-inf")
        self._suspects_lock = threading.Lock()

    def _compressor(self) -> zstandard.ZstdCompressor:
        c = getattr(self._local, "c", None)
        if c is None:
            c = self._local.c = zstandard.ZstdCompressor(level=self.level)
        return c

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        d = getattr(self._local, "d", None)
        if d is None:
            d = self._local.d = zstandard.ZstdDecompressor()
        return d

    def put(self, data: bytes, chunk_id: bytes | None = None) -> tuple[bytes, int]:
        """Store ``data`` unless a chunk with its id exists; returns (id, bytes written)."""
        chunk_id = chunk_id or hash_bytes(data)
        key = chunk_key(chunk_id)
        repair = self.backend.exists(key)
        if repair and not self._still_corrupted(chunk_id):
            return chunk_id, 0
        packed = self._compressor().compress(data)
        blob = ZSTD + packed if len(packed) < len(data) else RAW + data
        self.backend.put(key, blob)
        if repair:
            self.clear_suspect(chunk_id)
        return chunk_id, len(blob)

    # --- corrupted chunks: marked when read, rewritten when their bytes come again --------

    def suspects(self) -> set[bytes]:
        """Chunks some reader found corrupted (re-listed every ``SUSPECTS_TTL_S``)."""
        with self._suspects_lock:
            if time.monotonic() - self._suspects_read > SUSPECTS_TTL_S:
                found = {chunk_id_from_key(k) for k in self.backend.list(SUSPECT_PREFIX)}
                self._suspects = {c for c in found if c is not None}
                self._suspects_read = time.monotonic()
            return set(self._suspects)

    def _mark_suspect(self, chunk_id: bytes) -> None:
        with self._suspects_lock:
            self._suspects.add(chunk_id)
        with contextlib.suppress(Exception):  # the read fails anyway; the marker is a help
            self.backend.put(SUSPECT_PREFIX + chunk_id.hex(), b"")

    def clear_suspect(self, chunk_id: bytes) -> None:
        with self._suspects_lock:
            self._suspects.discard(chunk_id)
        self.backend.delete(SUSPECT_PREFIX + chunk_id.hex())

    def _still_corrupted(self, chunk_id: bytes) -> bool:
        """For a put that would dedup against a suspect chunk: is the stored one still bad?"""
        if chunk_id not in self.suspects():
            return False
        try:
            self._decode(chunk_id, self.backend.get(chunk_key(chunk_id)), mark=False)
        except ChunkCorruptedError:
            return True  # the caller rewrites it; the next good read clears the marker
        except ObjectMissingError:
            return True
        self.clear_suspect(chunk_id)
        return False

    def exists(self, chunk_id: bytes) -> bool:
        return self.backend.exists(chunk_key(chunk_id))

    def plain_size(self, chunk_id: bytes) -> int:
        """How many plain bytes a stored chunk holds, from its header alone when it can
        (``ObjectMissingError`` if it is not stored)."""
        key = chunk_key(chunk_id)
        try:
            head, total = self.backend.read_prefix(key, 1 + _ZSTD_HEADER_MAX)
        except ObjectMissingError:
            raise ObjectMissingError(
                f"chunk {chunk_id.hex()} is missing from {self.backend.uri}"
            ) from None
        if head[:1] == RAW:
            return total - 1
        if head[:1] == ZSTD:
            try:
                size = zstandard.frame_content_size(head[1:])
            except zstandard.ZstdError:
                size = -1
            if size >= 0:
                return int(size)
        return len(self.get(chunk_id))  # no size in the header: read it (verified)

    def get(self, chunk_id: bytes) -> bytes:
        """Return the plain bytes of a chunk, verified against its id."""
        cached = self._cache.get(chunk_id)
        if cached is not None:
            return cached
        key = chunk_key(chunk_id)
        try:
            blob = self.backend.get(key)
        except ObjectMissingError:
            raise ObjectMissingError(
                f"chunk {chunk_id.hex()} is missing from {self.backend.uri}: "
                "run `raypachy fsck` to find the commits that reference it"
            ) from None
        data = self._decode(chunk_id, blob)
        self._cache.put(chunk_id, data)
        return data

    def _decode(self, chunk_id: bytes, blob: bytes, mark: bool = True) -> bytes:
        header, payload = blob[:1], blob[1:]
        try:
            if header == ZSTD:
                data = self._decompressor().decompress(payload)
            elif header == RAW:
                data = payload
            else:
                raise ValueError("unknown chunk header")
        except (zstandard.ZstdError, ValueError):
            data = b""
            ok = False
        else:
            ok = hash_bytes(data) == chunk_id
        if not ok:
            if mark:
                self._mark_suspect(chunk_id)
            raise ChunkCorruptedError(
                f"chunk {chunk_id.hex()} at {self.backend.uri}/{chunk_key(chunk_id)} is "
                "corrupted (its bytes do not match its id); put the same data again to "
                "rewrite it, restore it from a replica, or delete the commits that reference it"
            )
        return data
