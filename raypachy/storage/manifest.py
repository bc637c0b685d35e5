"""Manifests: immutable, sorted Arrow files listing the entries of one layer.

One manifest is an Arrow IPC file of record batches sorted by path, zstd-compressed per
buffer. The footer holds the first path of every batch, so a point lookup or a prefix
scan decodes only the batches it needs. A manifest's id is the BLAKE3 hash of its bytes;
it is stored at ``manifests/<id[:2]>/<id>`` and never changes.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.ipc as ipc

from raypachy.errors import ChunkCorruptedError, ObjectMissingError
from raypachy.storage.backend import Backend
from raypachy.storage.chunkstore import hash_bytes
from raypachy.storage.entries import ChunkRef, Entry, FileData, Op

MANIFEST_PREFIX = "manifests/"
BATCH_ROWS = 1024

_REF_TYPE = pa.struct([("chunk", pa.binary(32)), ("offset", pa.int64()), ("length", pa.int64())])
SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("op", pa.int8()),
        ("size", pa.int64()),
        ("hash", pa.binary(32)),
        ("refs", pa.list_(_REF_TYPE)),
    ]
)
_WRITE_OPTIONS = ipc.IpcWriteOptions(compression="zstd")


def manifest_key(manifest_id: str) -> str:
    return f"{MANIFEST_PREFIX}{manifest_id[:2]}/{manifest_id}"


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    """A stored manifest: its id and how many entries it has."""

    id: str
    rows: int


def _to_batch(rows: list[Entry]) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array([e.path for e in rows], pa.string()),
            pa.array([int(e.op) for e in rows], pa.int8()),
            pa.array([e.data.size for e in rows], pa.int64()),
            pa.array([e.data.hash for e in rows], pa.binary(32)),
            pa.array(
                [
                    [
                        {"chunk": r.chunk, "offset": r.offset, "length": r.length}
                        for r in e.data.refs
                    ]
                    for e in rows
                ],
                pa.list_(_REF_TYPE),
            ),
        ],
        schema=SCHEMA,
    )


def _from_batch(batch: pa.RecordBatch) -> list[Entry]:
    paths = batch.column(0).to_pylist()
    ops = batch.column(1).to_pylist()
    sizes = batch.column(2).to_pylist()
    hashes = batch.column(3).to_pylist()
    refs = batch.column(4)
    offsets = refs.offsets.to_pylist()
    flat = refs.values
    chunks = flat.field(0).to_pylist()
    starts = flat.field(1).to_pylist()
    lengths = flat.field(2).to_pylist()
    out = []
    for i, path in enumerate(paths):
        lo, hi = offsets[i], offsets[i + 1]
        file_refs = tuple(ChunkRef(chunks[j], starts[j], lengths[j]) for j in range(lo, hi))
        out.append(Entry(path, Op(ops[i]), FileData(sizes[i], hashes[i], file_refs)))
    return out


def encode_manifest(entries: Iterable[Entry]) -> tuple[bytes, int]:
    """Serialize sorted entries; returns (file bytes, row count). Paths must be unique."""
    batches: list[pa.RecordBatch] = []
    first_paths: list[str] = []
    pending: list[Entry] = []
    rows = 0
    last = None
    for entry in entries:
        if last is not None and entry.path <= last:
            raise ValueError(f"manifest entries out of order: {entry.path!r} after {last!r}")
        last = entry.path
        pending.append(entry)
        if len(pending) == BATCH_ROWS:
            first_paths.append(pending[0].path)
            batches.append(_to_batch(pending))
            rows += len(pending)
            pending = []
    if pending:
        first_paths.append(pending[0].path)
        batches.append(_to_batch(pending))
        rows += len(pending)
    sink = pa.BufferOutputStream()
    meta = {
        b"raypachy": b"manifest-v1",
        b"rows": str(rows).encode(),
        b"first_paths": json.dumps(first_paths).encode(),
    }
    with ipc.new_file(sink, SCHEMA, options=_WRITE_OPTIONS, metadata=meta) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes(), rows


class Manifest:
    """A read-only view of one manifest with point lookups and sorted scans."""

    def __init__(self, manifest_id: str, buffer: pa.Buffer) -> None:
        self.id = manifest_id
        self._reader = ipc.open_file(buffer)
        meta = self._reader.metadata or {}
        self._first = json.loads(meta.get(b"first_paths", b"[]"))
        self.rows = int(meta.get(b"rows", b"0"))
        self._batches: OrderedDict[int, list[Entry]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def batch_count(self) -> int:
        return int(self._reader.num_record_batches)

    @property
    def first_paths(self) -> list[str]:
        """The first path of each batch, as the footer says."""
        return list(self._first)

    def batch_paths(self, index: int) -> list[str]:
        """The paths of one batch, as stored (for checks that trust no footer)."""
        paths: list[str] = self._reader.get_batch(index).column(0).to_pylist()
        return paths

    def _batch(self, index: int) -> list[Entry]:
        with self._lock:
            cached = self._batches.get(index)
            if cached is not None:
                self._batches.move_to_end(index)
                return cached
        rows = _from_batch(self._reader.get_batch(index))
        with self._lock:
            self._batches[index] = rows
            if len(self._batches) > 8:
                self._batches.popitem(last=False)
        return rows

    def lookup(self, path: str) -> Entry | None:
        """The entry for exactly ``path``, or None."""
        index = bisect.bisect_right(self._first, path) - 1
        if index < 0:
            return None
        rows = self._batch(index)
        pos = bisect.bisect_left(rows, path, key=lambda e: e.path)
        if pos < len(rows) and rows[pos].path == path:
            return rows[pos]
        return None

    def scan(self, start: str = "", stop: str | None = None) -> Iterator[Entry]:
        """Entries with ``start <= path`` (and ``path < stop`` when given), sorted."""
        index = max(bisect.bisect_right(self._first, start) - 1, 0)
        for i in range(index, len(self._first)):
            if stop is not None and self._first[i] >= stop:
                return
            rows = self._batch(i) if i == index else _from_batch(self._reader.get_batch(i))
            pos = bisect.bisect_left(rows, start, key=lambda e: e.path) if i == index else 0
            for entry in rows[pos:]:
                if stop is not None and entry.path >= stop:
                    return
                yield entry

    def chunk_ids(self) -> set[bytes]:
        """Every chunk id this manifest references (read column-wise, for gc)."""
        out: set[bytes] = set()
        for i in range(self._reader.num_record_batches):
            refs = self._reader.get_batch(i).column(4)
            out.update(refs.values.field(0).to_pylist())
        return out

    def scan_prefix(self, prefix: str) -> Iterator[Entry]:
        return self.scan(prefix, prefix_end(prefix))

    def __iter__(self) -> Iterator[Entry]:
        return self.scan()


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class ManifestStore:
    """Write manifests and open them by id (opened manifests are cached; they never change).

    ``put`` does not make a manifest durable by itself: call ``sync()`` once after writing a
    commit's manifests and before the metadata transaction that references them.
    """

    def __init__(self, backend: Backend, cache_size: int = 64) -> None:
        self.backend = backend
        self._open: OrderedDict[str, Manifest] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._written = 0  # puts so far, and how many of them a sync has covered
        self._synced = 0

    def put(self, entries: Iterable[Entry]) -> ManifestInfo:
        data, rows = encode_manifest(entries)
        manifest_id = hash_bytes(data).hex()
        key = manifest_key(manifest_id)
        if not self.backend.exists(key):
            self.backend.put(key, data)
            with self._lock:
                self._written += 1
        return ManifestInfo(manifest_id, rows)

    def sync(self) -> None:
        """Make every manifest written so far durable: one backend sync, none if nothing new
        was written (a sync started after a put completed covers it, whoever started it)."""
        with self._lock:
            target = self._written
            if target == self._synced:
                return
        self.backend.sync()
        with self._lock:
            self._synced = max(self._synced, target)

    def open(self, manifest_id: str) -> Manifest:
        with self._lock:
            cached = self._open.get(manifest_id)
            if cached is not None:
                self._open.move_to_end(manifest_id)
                return cached
        key = manifest_key(manifest_id)
        try:
            data = self.backend.get(key)
        except ObjectMissingError:
            raise ObjectMissingError(
                f"manifest {manifest_id} is missing from {self.backend.uri}: "
                "run `raypachy fsck` to find the commits that reference it"
            ) from None
        if hash_bytes(data).hex() != manifest_id:
            raise ChunkCorruptedError(
                f"manifest {manifest_id} at {self.backend.uri}/{key} is corrupted "
                "(its bytes do not match its id)"
            )
        manifest = Manifest(manifest_id, pa.py_buffer(data))
        with self._lock:
            self._open[manifest_id] = manifest
            while len(self._open) > self._cache_size:
                self._open.popitem(last=False)
        return manifest

    def exists(self, manifest_id: str) -> bool:
        return self.backend.exists(manifest_key(manifest_id))
