"""Turning bytes into chunks and a layer: content-defined chunking, packing, dedup.

``FileSetWriter`` collects the puts, appends, copies and deletes of one change and writes
them as one new layer (a manifest). Large files are cut by FastCDC into ~1.5 MiB chunks,
so an unchanged region dedups however the file moved. Files up to 1 MiB are packed: their
bytes are concatenated into one stream that is itself cut by FastCDC, so ten thousand
small files make a handful of chunks, and putting the same files again makes the same
chunks. Hashing, compression and writes run on a small thread pool (they release the
GIL); at most a few chunks are in flight, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import blake3
from pyfastcdc.cy import FastCDC

from raypachy.storage.chunkstore import ChunkStore, hash_bytes
from raypachy.storage.entries import ChunkRef, Entry, FileData, Op, concat
from raypachy.storage.manifest import ManifestInfo, ManifestStore

SMALL_FILE_MAX = 1 << 20
PACK_FLUSH_BYTES = 16 << 20
READ_BLOCK = 8 << 20
AVG_CHUNK = 1 << 20
MIN_CHUNK = 512 << 10
MAX_CHUNK = 4 << 20

Source = bytes | bytearray | memoryview | BinaryIO | os.PathLike[str]


def _cdc() -> FastCDC:
    return FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


def chunk_list_hash(chunk_ids: list[bytes]) -> bytes:
    """The hash of a large file: BLAKE3 over its chunk ids (each the BLAKE3 of its bytes)."""
    digest: bytes = blake3.blake3(b"chunks\x00" + b"".join(chunk_ids)).digest()
    return digest


@dataclass(slots=True)
class _Packed:
    """A small file's bytes at ``start`` in the pack stream, resolved at close."""

    start: int
    length: int
    hash: bytes


Part = FileData | _Packed


@dataclass(slots=True)
class _Pending:
    op: Op
    parts: list[Part] = field(default_factory=list)


class _PrefixedReader(io.RawIOBase):
    """Replays bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._rest, "readinto", None)
        if readinto is not None:
            got: int | None = readinto(buf)
            return got or 0
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _read_upto(reader: BinaryIO, n: int) -> bytes:
    parts = []
    remaining = n
    while remaining > 0:
        data = reader.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


class FileSetWriter:
    """Build one layer. Not thread-safe: one writer per thread (the pool is internal)."""

    def __init__(
        self,
        chunks: ChunkStore,
        manifests: ManifestStore,
        threads: int = 2,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.chunks = chunks
        self.manifests = manifests
        self.on_progress = on_progress
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="raypachy-chunk")
        self._slots = threading.BoundedSemaphore(threads * 2 + 2)
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._pack = bytearray()
        self._pack_base = 0
        self._pack_starts: list[int] = []
        self._pack_chunks: list[tuple[int, int, Future[bytes]]] = []
        self._closed = False
        self.bytes_in = 0
        self.bytes_written = 0

    # --- public operations ---------------------------------------------------------

    def put(self, path: str, source: Source, append: bool = False) -> None:
        """Write ``source`` (bytes, a binary stream or a local file path) at ``path``."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._add(path, self._ingest(io.BytesIO(bytes(source))), append)
        elif isinstance(source, os.PathLike):
            with open(source, "rb", buffering=0) as f:
                self._add(path, self._ingest(f), append)
        else:
            self._add(path, self._ingest(source), append)

    def put_data(self, path: str, data: FileData, append: bool = False) -> None:
        """Record content whose chunks are already stored (a copy moves no bytes)."""
        self._add(path, data, append)

    def store(self, source: BinaryIO) -> FileData:
        """Store ``source`` as content-defined chunks and return its content, recording no
        path: for pieces put together later with ``put_data`` (an upload's parts)."""
        return self._chunk_stream(_PrefixedReader(b"", source))

    def delete(self, path: str) -> None:
        """Delete a file, or with a trailing ``/`` a whole directory, in the layers below."""
        if path.endswith("/"):
            for key in [k for k in self._pending if k.startswith(path)]:
                del self._pending[key]
        self._pending[path] = _Pending(Op.DELETE)

    def close(self) -> ManifestInfo:
        """Finish uploads, make them durable and write the layer's manifest."""
        if self._closed:
            raise RuntimeError("FileSetWriter is closed")
        self._closed = True
        try:
            self._cut_pack(final=True)
            ids = [f.result() for _, _, f in self._pack_chunks]
            entries = [self._entry(p, pend, ids) for p, pend in sorted(self._pending.items())]
            info = self.manifests.put(entries)
            self.chunks.backend.sync()
            return info
        finally:
            self._pool.shutdown(wait=True)

    def abort(self) -> None:
        """Stop without writing a manifest; chunks already written become garbage."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def changes(self) -> int:
        return len(self._pending)

    # --- internals -----------------------------------------------------------------

    def _add(self, path: str, part: Part, append: bool) -> None:
        current = self._pending.get(path)
        if not append:
            self._pending[path] = _Pending(Op.PUT, [part])
        elif current is not None and current.op is not Op.DELETE:
            current.parts.append(part)
        elif current is not None or self._under_deleted_dir(path):
            self._pending[path] = _Pending(Op.PUT, [part])  # nothing left below to append to
        else:
            self._pending[path] = _Pending(Op.APPEND, [part])

    def _under_deleted_dir(self, path: str) -> bool:
        pos = path.find("/", 1)
        while pos != -1:
            pending = self._pending.get(path[: pos + 1])
            if pending is not None and pending.op is Op.DELETE:
                return True
            pos = path.find("/", pos + 1)
        root = self._pending.get("/")
        return root is not None and root.op is Op.DELETE

    def _ingest(self, reader: BinaryIO) -> Part:
        head = _read_upto(reader, SMALL_FILE_MAX + 1)
        if len(head) <= SMALL_FILE_MAX:
            return self._pack_small(head)
        return self._chunk_stream(_PrefixedReader(head, reader))

    def _pack_small(self, data: bytes) -> _Packed:
        packed = _Packed(self._pack_base + len(self._pack), len(data), hash_bytes(data))
        self._pack += data
        self._progress(len(data))
        if len(self._pack) >= PACK_FLUSH_BYTES:
            self._cut_pack(final=False)
        return packed

    def _cut_pack(self, final: bool) -> None:
        if not self._pack:
            return
        with memoryview(self._pack) as view:
            # Keep only offsets: FastCDC's chunk objects hold views that pin the buffer.
            cuts = [(c.offset, c.length) for c in _cdc().cut_buf(view)]
            if not final:
                cuts = cuts[:-1]  # the last cut may move once more bytes arrive
            for offset, length in cuts:
                start = self._pack_base + offset
                future = self._submit(bytes(view[offset : offset + length]))
                self._pack_starts.append(start)
                self._pack_chunks.append((start, length, future))
        emitted = sum(length for _, length in cuts)
        del self._pack[:emitted]
        self._pack_base += emitted

    def _chunk_stream(self, reader: io.RawIOBase) -> FileData:
        submitted: list[tuple[int, Future[bytes]]] = []
        for cut in _cdc().cut_stream(reader):
            submitted.append((cut.length, self._submit(bytes(cut.data))))
            self._progress(cut.length)
        ids = [future.result() for _, future in submitted]
        refs = tuple(
            ChunkRef(chunk_id, 0, length)
            for chunk_id, (length, _) in zip(ids, submitted, strict=True)
        )
        return FileData(sum(r.length for r in refs), chunk_list_hash(ids), refs)

    def _submit(self, data: bytes) -> Future[bytes]:
        self._slots.acquire()
        try:
            future = self._pool.submit(self._upload, data)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def _upload(self, data: bytes) -> bytes:
        chunk_id, written = self.chunks.put(data)
        with self._lock:
            self.bytes_in += len(data)
            self.bytes_written += written
        return chunk_id

    def _progress(self, n: int) -> None:
        if self.on_progress is not None:
            self.on_progress(n)

    def _resolve(self, part: Part, ids: list[bytes]) -> FileData:
        if isinstance(part, FileData):
            return part
        refs = []
        pos, end = part.start, part.start + part.length
        i = bisect.bisect_right(self._pack_starts, pos) - 1
        while pos < end:
            chunk_start, chunk_len, _ = self._pack_chunks[i]
            take = min(end, chunk_start + chunk_len) - pos
            refs.append(ChunkRef(ids[i], pos - chunk_start, take))
            pos += take
            i += 1
        return FileData(part.length, part.hash, tuple(refs))

    def _entry(self, path: str, pending: _Pending, ids: list[bytes]) -> Entry:
        if pending.op is Op.DELETE:
            return Entry(path, Op.DELETE, FileData.empty())
        data = self._resolve(pending.parts[0], ids)
        for part in pending.parts[1:]:
            data = concat(data, self._resolve(part, ids))
        return Entry(path, pending.op, data)
