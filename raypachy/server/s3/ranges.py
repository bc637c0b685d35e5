"""S3 byte ranges (``Range: bytes=a-b``, ``a-``, ``-n``) and reading them from chunks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from raypachy.errors import S3Error
from raypachy.storage import ChunkStore, FileData

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single range, or None for the whole object.

    As S3 does, a header it cannot read (several ranges, another unit) means the whole object;
    a range that starts past the end is ``InvalidRange`` (416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None or match[1] == match[2] == "":
        return None
    first, last = match[1], match[2]
    if first == "":
        n = int(last)
        if n == 0:
            raise invalid_range(header, size)
        return max(size - n, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return None  # RFC 9110: an invalid range is ignored
    if start >= size:
        raise invalid_range(header, size)
    return start, end


def invalid_range(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange", f"the range {header!r} is not satisfiable: the object has {size} bytes",
        416,
    )  # fmt: skip


def iter_range(
    chunks: ChunkStore, data: FileData, start: int, end: int
) -> Iterator[bytes | memoryview]:
    """Bytes ``[start, end)`` of a file, reading only the chunks that hold them."""
    pos = 0
    for ref in data.refs:
        if pos >= end:
            break
        ref_end = pos + ref.length
        if ref_end > start:
            first, last = max(start, pos) - pos, min(end, ref_end) - pos
            chunk = chunks.get(ref.chunk)
            if first == 0 and last == ref.length and ref.offset == 0 and ref.length == len(chunk):
                yield chunk
            else:  # a view, not a copy: the server writes it out as is
                yield memoryview(chunk)[ref.offset + first : ref.offset + last]
        pos = ref_end
