"""HTTP byte ranges (RFC 9110 section 14) for file downloads: one range per request."""

from __future__ import annotations

import re

from raypachy.errors import RangeNotSatisfiableError

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` asked for by a ``Range`` header, or None for the whole file.

    A header we do not serve (several ranges, other units, malformed) means the whole file,
    as RFC 9110 allows; a range wholly past the end raises ``RangeNotSatisfiableError``.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # a suffix: the last N bytes
        suffix = int(match[2])
        if suffix == 0:
            raise RangeNotSatisfiableError(
                f"range {header!r} asks for no bytes of a {size}-byte file"
            )
        return max(size - suffix, 0), size
    start = int(match[1])
    end = size if not match[2] else min(int(match[2]) + 1, size)
    if start >= size or (match[2] and int(match[2]) < start):
        raise RangeNotSatisfiableError(
            f"range {header!r} is outside the file ({size} bytes): ask for bytes 0-{size - 1}"
        )
    return start, end
