"""What the S3 handlers need of whatever holds the objects, and the paging of listings.

Two catalogs implement it: the control plane's (``pfs_catalog``: branches and commits of
every repo, over the API's operations) and a datum's (``sidecar``: its input commits and its
``out`` directory). The handlers speak S3; a catalog knows where bytes are.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from raypachy.errors import S3Error
from raypachy.server.s3.body import Body
from raypachy.server.s3.wire import ObjectInfo

MAX_KEYS = 1000


def read_only(bucket: str) -> S3Error:
    return S3Error(
        "MethodNotAllowed", f"bucket {bucket} is read-only (a commit, or a datum's input): "
        "write to a <branch>.<repo> bucket", 405,
    )  # fmt: skip


class Blob(Protocol):
    """An object ready to be read."""

    @property
    def info(self) -> ObjectInfo: ...

    def read(self, start: int, end: int) -> Iterator[bytes | memoryview]:
        """Bytes ``[start, end)``; a blocking iterator (the server runs it on a thread)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredPart:
    """One uploaded part: its ETag and size, and where the catalog keeps it."""

    number: int
    etag: str
    size: int
    modified: datetime
    data: Any


class Bucket(Protocol):
    name: str
    writable: bool

    async def check(self) -> None:
        """``NoSuchBucket`` unless the bucket exists."""
        ...

    async def listing(self, prefix: str) -> Sequence[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (more is allowed), sorted by key."""
        ...

    async def get(self, key: str) -> Blob: ...

    async def put(self, key: str, body: Body) -> ObjectInfo: ...

    async def copy(self, key: str, source: Blob) -> ObjectInfo: ...

    async def delete(self, keys: list[str]) -> None:
        """Delete the objects (missing ones are no error, as in S3), in one change."""
        ...

    async def begin_upload(self, key: str) -> Any: ...

    async def put_part(self, upload: Any, number: int, body: Body) -> StoredPart: ...

    async def complete_upload(
        self, upload: Any, key: str, parts: list[StoredPart]
    ) -> ObjectInfo: ...

    async def abort_upload(self, upload: Any) -> None: ...

    async def keep_alive(self, upload: Any) -> None: ...


class BlobReader(io.RawIOBase):
    """A blob as a binary stream, read from start to end (to write it somewhere else)."""

    def __init__(self, blob: Blob) -> None:
        self._pieces = blob.read(0, blob.info.size)
        self._left: bytes | memoryview = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._pieces)
            except StopIteration:
                return 0
        n = min(len(buf), len(self._left))
        buf[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


class Catalog(Protocol):
    async def list_buckets(self) -> list[tuple[str, datetime]]: ...

    async def bucket(self, name: str) -> Bucket:
        """The bucket ``name`` (``NoSuchBucket`` if it does not exist)."""
        ...

    async def create_bucket(self, name: str) -> None: ...

    async def delete_bucket(self, name: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Listed:
    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    last: str  # the last key or common prefix returned


def page(
    objects: Sequence[ObjectInfo], prefix: str, delimiter: str, after: str, max_keys: int
) -> Listed:
    """One page of keys and common prefixes after ``after``, in key order, as S3 pages them."""
    keys = [o.key for o in objects]
    i = max(bisect.bisect_left(keys, prefix), bisect.bisect_right(keys, after))
    found: list[ObjectInfo | str] = []
    while i < len(objects) and len(found) <= max_keys:
        obj = objects[i]
        i += 1
        if not obj.key.startswith(prefix):
            if obj.key > prefix:
                break
            continue
        if delimiter:
            cut = obj.key.find(delimiter, len(prefix))
            if cut != -1:
                common = obj.key[: cut + len(delimiter)]
                if common <= after or (found and found[-1] == common):
                    continue
                found.append(common)
                continue
        found.append(obj)
    truncated = len(found) > max_keys
    found = found[:max_keys]
    return Listed(
        [f for f in found if isinstance(f, ObjectInfo)],
        [f for f in found if isinstance(f, str)],
        truncated,
        (found[-1] if isinstance(found[-1], str) else found[-1].key) if found else after,
    )
