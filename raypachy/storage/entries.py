"""What a manifest row says about one path: plain data, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import blake3

EMPTY_HASH = blake3.blake3(b"").digest()


class Op(enum.IntEnum):
    """How a layer's entry changes the layers below it."""

    PUT = 0  # the path now holds exactly these bytes
    APPEND = 1  # these bytes are added after what the layers below hold
    DELETE = 2  # the path is gone; a path ending in "/" removes a whole directory


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """``length`` bytes starting at ``offset`` in chunk ``chunk`` (a 32-byte BLAKE3 id)."""

    chunk: bytes
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class FileData:
    """The content of one file: its size, its hash and where its bytes are."""

    size: int
    hash: bytes
    refs: tuple[ChunkRef, ...]

    @staticmethod
    def empty() -> FileData:
        return FileData(0, EMPTY_HASH, ())


def concat(first: FileData, second: FileData) -> FileData:
    """The content of ``first`` followed by ``second``, without moving any bytes.

    The hash of an appended file is chained from the two parts: equal hashes still mean
    equal bytes, but the same bytes put in one piece may hash differently.
    """
    if first.size == 0:
        return second
    if second.size == 0:
        return first
    h = blake3.blake3(b"append\x00" + first.hash + second.hash).digest()
    return FileData(first.size + second.size, h, first.refs + second.refs)


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a manifest: an operation on a path, with the data it puts or appends."""

    path: str
    op: Op
    data: FileData

    @property
    def is_dir_delete(self) -> bool:
        return self.op is Op.DELETE and self.path.endswith("/")
