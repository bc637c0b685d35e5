"""Checking a layer that a client wrote: nothing in its manifest is taken on trust.

A direct-data-plane client writes chunks and a manifest itself, then registers the manifest.
Before the layer enters a commit its manifest is read in full (never through the footer the
client wrote), and every entry must be well formed: paths sorted and unique, a known op,
refs inside chunks that exist, a size equal to the bytes its refs hold. Hashes are
recomputed from the chunks as ingest computes them (from the chunk ids for a large file made
of whole chunks, else from the bytes), so a wrong hash cannot hide a change from ``diff`` or
from pipelines. The result is the manifest as this side writes it: the same id when the
client's was already canonical, else the checked entries to write as a new manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import blake3
import pyarrow as pa
import pyarrow.ipc as ipc

from raypachy.errors import InvalidArgumentError, ObjectMissingError, StorageError
from raypachy.storage.chunkstore import ChunkStore, hash_bytes
from raypachy.storage.entries import ChunkRef, Entry, FileData, Op
from raypachy.storage.ingest import SMALL_FILE_MAX, chunk_list_hash
from raypachy.storage.manifest import (
    SCHEMA,
    Manifest,
    ManifestInfo,
    ManifestStore,
    _from_batch,
    encode_manifest,
    manifest_key,
)


def _bad(manifest_id: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"manifest {manifest_id[:16]}... refused: {problem}")


def _entries(manifest_id: str, data: bytes) -> Iterator[Entry]:
    """Every entry of every record batch, whatever the footer says."""
    try:
        reader = ipc.open_file(pa.py_buffer(data))
        if not reader.schema.remove_metadata().equals(SCHEMA):
            raise _bad(manifest_id, "its columns are not those of a raypachy manifest")
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            refs = batch.column(4).values
            if any(c.null_count for c in [*batch.columns, refs, *refs.flatten()]):
                raise _bad(manifest_id, "it has empty (null) values")
            yield from _from_batch(batch)
    except (pa.ArrowException, ValueError, TypeError) as e:
        if isinstance(e, InvalidArgumentError):
            raise
        raise _bad(manifest_id, f"it cannot be read ({type(e).__name__}: {e})") from None


class _Chunks:
    """Plain sizes and bytes of the chunks a manifest references, each fetched once."""

    def __init__(self, store: ChunkStore, manifest_id: str) -> None:
        self.store = store
        self.manifest_id = manifest_id
        self.sizes: dict[bytes, int] = {}

    def size(self, chunk_id: bytes) -> int:
        size = self.sizes.get(chunk_id)
        if size is None:
            try:
                size = self.sizes[chunk_id] = self.store.plain_size(chunk_id)
            except ObjectMissingError:
                raise _bad(
                    self.manifest_id, f"it references chunk {chunk_id.hex()}, which is not stored"
                ) from None
        return size

    def content_hash(self, refs: tuple[ChunkRef, ...]) -> bytes:
        h = blake3.blake3()
        for ref in refs:
            try:
                data = self.store.get(ref.chunk)
            except StorageError as e:
                raise _bad(self.manifest_id, e.message) from None
            h.update(memoryview(data)[ref.offset : ref.offset + ref.length])
        digest: bytes = h.digest()
        return digest


def _checked(entry: Entry, chunks: _Chunks) -> Entry:
    """The entry with its size and hash as the bytes say, or an error naming what is wrong."""
    path, data, mid = entry.path, entry.data, chunks.manifest_id
    if entry.op is Op.DELETE:
        if data.refs or data.size:
            raise _bad(mid, f"{path}: a delete carries no data")
        return Entry(path, Op.DELETE, FileData.empty())
    if path.endswith("/"):
        raise _bad(mid, f"{path}: only a delete may name a directory")
    total = 0
    for ref in data.refs:
        if len(ref.chunk) != 32 or ref.offset < 0 or ref.length <= 0:
            raise _bad(mid, f"{path}: invalid chunk reference (offset {ref.offset}, "
                            f"length {ref.length})")  # fmt: skip
        if ref.offset + ref.length > chunks.size(ref.chunk):
            raise _bad(mid, f"{path}: bytes {ref.offset}-{ref.offset + ref.length} are past "
                            f"the end of chunk {ref.chunk.hex()}")  # fmt: skip
        total += ref.length
    if data.size != total:
        raise _bad(mid, f"{path}: size {data.size} but its chunk references hold {total} bytes")
    if not data.refs:
        return Entry(path, entry.op, FileData.empty())
    ids = [r.chunk for r in data.refs]
    whole = all(r.offset == 0 and r.length == chunks.size(r.chunk) for r in data.refs)
    # The hash ingest gives such content: a large file, cut into whole chunks, hashes its
    # chunk ids; a small one hashes its bytes (its chunk's id, when it fills the chunk).
    if whole and total > SMALL_FILE_MAX:
        expected = chunk_list_hash(ids)
    elif whole and len(ids) == 1:
        expected = ids[0]
    else:
        expected = chunks.content_hash(data.refs)
    if data.hash == expected:
        return entry
    return Entry(path, entry.op, FileData(total, expected, data.refs))


def verify_layer(
    chunks: ChunkStore,
    manifests: ManifestStore,
    manifest_id: str,
    check_path: Callable[[str], None],
) -> tuple[ManifestInfo, list[Entry] | None]:
    """Check a client-written manifest (see the module docstring); reads only.

    Returns the layer to register and, when the client's manifest was not canonical, the
    checked entries to write as that layer (under the lease its chunks were written under).
    ``check_path`` refuses a path that is not normalised.
    """
    try:
        data = manifests.backend.get(manifest_key(manifest_id))
    except ObjectMissingError:
        raise InvalidArgumentError(
            f"manifest {manifest_id} is not in {manifests.backend.uri}: write it first"
        ) from None
    if hash_bytes(data).hex() != manifest_id:
        raise _bad(manifest_id, "its bytes do not match its id")
    refs = _Chunks(chunks, manifest_id)
    entries: list[Entry] = []
    last = None
    for entry in _entries(manifest_id, data):
        check_path(entry.path)
        if last is not None and entry.path <= last:
            raise _bad(manifest_id, f"entries out of order or repeated: {entry.path!r} "
                                    f"after {last!r}")  # fmt: skip
        last = entry.path
        entries.append(_checked(entry, refs))
    encoded, rows = encode_manifest(entries)
    canonical = hash_bytes(encoded).hex()
    return ManifestInfo(canonical, rows), (None if canonical == manifest_id else entries)


def manifest_problem(manifest: Manifest) -> str | None:
    """What is wrong with a stored manifest's order or footer (``fsck``), or None."""
    last = None
    rows = 0
    firsts = []
    for i in range(manifest.batch_count):
        paths = manifest.batch_paths(i)
        if paths:
            firsts.append(paths[0])
        for path in paths:
            if last is not None and path <= last:
                return f"entries out of order or repeated: {path!r} after {last!r}"
            last = path
        rows += len(paths)
    if rows != manifest.rows or firsts != manifest.first_paths:
        return f"its footer (rows, first paths) does not match its {rows} entries"
    return None
