"""Request bodies read with a cap: a body over its limit is a 413, never a full disk or RAM."""

from __future__ import annotations

from typing import BinaryIO

from fastapi import Request

from raypachy.errors import PayloadTooLargeError


def _too_large(what: str, limit: int, setting: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"{what} is larger than {setting} ({limit:,} bytes): send less, or raise {setting}"
    )


def _declared(request: Request, what: str, limit: int, setting: str) -> None:
    """Refuse at once a body that says it is too large (before reading any of it)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(what, limit, setting)


async def read(request: Request, what: str, limit: int, setting: str) -> bytes:
    """The whole body, at most ``limit`` bytes."""
    _declared(request, what, limit, setting)
    parts: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise _too_large(what, limit, setting)
        parts.append(piece)
    return b"".join(parts)


async def spool(request: Request, out: BinaryIO, what: str, limit: int, setting: str) -> int:
    """Copy the body to ``out``, at most ``limit`` bytes; returns its size."""
    _declared(request, what, limit, setting)
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise _too_large(what, limit, setting)
        out.write(piece)
    return size
