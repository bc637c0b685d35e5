"""Reading a file's bytes back from its chunk references."""

from __future__ import annotations

from collections.abc import Iterator

from raypachy.storage.chunkstore import ChunkStore
from raypachy.storage.entries import FileData


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
