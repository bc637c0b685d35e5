"""Reading a byte range of a file from its chunks, as views (the server writes them as is).

Range headers are parsed by ``raypachy.server.ranges`` (shared with ``/v1/files/content``).
"""

from __future__ import annotations

from collections.abc import Iterator

from raypachy.storage import ChunkStore, FileData
from raypachy.storage.reader import range_refs


def iter_range(
    chunks: ChunkStore, data: FileData, start: int, end: int
) -> Iterator[bytes | memoryview]:
    """Bytes ``[start, end)`` of a file, reading only the chunks that hold them."""
    for ref, first, last in range_refs(data, start, end):
        chunk = chunks.get(ref.chunk)
        if first == 0 and last == ref.length and ref.offset == 0 and ref.length == len(chunk):
            yield chunk
        else:
            yield memoryview(chunk)[ref.offset + first : ref.offset + last]
