"""Reading a file's bytes back from its chunk references."""

from __future__ import annotations

from collections.abc import Iterator

from raypachy.storage.chunkstore import ChunkStore
from raypachy.storage.entries import ChunkRef, FileData


def iter_bytes(chunks: ChunkStore, data: FileData) -> Iterator[bytes]:
    """Yield the file's bytes piece by piece (one chunk slice at a time)."""
    for ref in data.refs:
        chunk = chunks.get(ref.chunk)
        if ref.offset == 0 and ref.length == len(chunk):
            yield chunk
        else:
            yield chunk[ref.offset : ref.offset + ref.length]


def read_bytes(chunks: ChunkStore, data: FileData) -> bytes:
    """The whole file in memory: for small files; stream large ones with ``iter_bytes``."""
    return b"".join(iter_bytes(chunks, data))


def range_refs(data: FileData, start: int, end: int) -> list[tuple[ChunkRef, int, int]]:
    """The pieces of the file's bytes ``[start, end)``: (ref, first, last) where
    ``chunk[ref.offset + first : ref.offset + last]`` is each piece, in order."""
    start, end = max(start, 0), min(end, data.size)
    out: list[tuple[ChunkRef, int, int]] = []
    pos = 0  # where the current ref begins in the file
    for ref in data.refs:
        if pos >= end:
            break
        ref_end = pos + ref.length
        if ref_end > start:
            out.append((ref, max(start, pos) - pos, min(end, ref_end) - pos))
        pos = ref_end
    return out


def iter_range(chunks: ChunkStore, data: FileData, start: int, end: int) -> Iterator[bytes]:
    """Yield bytes ``[start, end)`` of the file, fetching only the chunks that hold them."""
    for ref, first, last in range_refs(data, start, end):
        yield chunks.get(ref.chunk)[ref.offset + first : ref.offset + last]
