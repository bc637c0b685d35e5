"""The control plane's buckets: every branch (and commit) of every repo.

Metadata comes only through the API's operations (``Service.call``); bytes go to and from
the chunk store exactly as ``/v1/files/content`` and ``/v1/files/upload`` move them. Each
request reads one commit: a branch bucket's head at the time of the request. What a
finished commit holds never changes, so its listings and file references are cached.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread

from raypachy.errors import AlreadyExistsError, NotFoundError, PathNotFoundError, S3Error
from raypachy.pfs.model import Commit
from raypachy.server import writes
from raypachy.server.s3.body import Body
from raypachy.server.s3.buckets import Blob, BlobReader, StoredPart, read_only
from raypachy.server.s3.names import BucketName, bucket_name, key_path, parse_bucket
from raypachy.server.s3.ranges import iter_range
from raypachy.server.s3.wire import ObjectInfo
from raypachy.server.service import Service
from raypachy.storage import FileData
from raypachy.storage.entries import concat

MAX_CACHED_LISTING = 200_000  # entries; bigger listings are read again for every page


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


def _when(commit: Commit) -> datetime:
    return commit.finished or commit.started


@dataclass(frozen=True, slots=True)
class PfsBlob:
    info: ObjectInfo
    data: FileData
    plane: writes.DataPlane
    commit: str  # repo@id: where a server-side copy takes it from
    path: str

    def read(self, start: int, end: int) -> Iterator[bytes | memoryview]:
        return iter_range(self.plane.chunks(), self.data, start, end)


@dataclass(frozen=True, slots=True)
class _Upload:
    path: str
    lease: str


class PfsBucket:
    def __init__(self, catalog: PfsCatalog, name: str, where: BucketName) -> None:
        self.catalog = catalog
        self.service = catalog.service
        self.plane = catalog.plane
        self.name = name
        self.where = where
        self.writable = not where.is_commit

    # --- reading ---------------------------------------------------------------------

    async def _commit(self) -> Commit:
        commit: Commit = await self.service.call("inspect_commit", self.where.target)
        return commit

    async def check(self) -> None:
        await self._commit()

    async def listing(self, prefix: str) -> Sequence[ObjectInfo]:
        commit = await self._commit()
        directory = "/" + prefix[: prefix.rfind("/") + 1]
        key = (commit.repo, commit.id, directory)
        cached = self.catalog.listings.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        try:
            found = await self.service.call("walk_data", f"{commit.repo}@{commit.id}", directory)
        except PathNotFoundError:
            found = []
        when = _when(commit)
        out = [ObjectInfo(path[1:], data.size, data.hash.hex(), when) for path, data in found]
        out.sort(key=lambda o: o.key)
        if commit.finished is not None and len(out) <= MAX_CACHED_LISTING:
            self.catalog.listings.put(key, out)
        return out

    async def get(self, key: str) -> Blob:
        try:
            path = key_path(key)
        except S3Error:
            raise PathNotFoundError(f"no object {key!r} in {self.name}") from None
        commit = await self._commit()
        at = f"{commit.repo}@{commit.id}"
        data = self.catalog.files.get((at, path))
        if data is None:
            try:
                found = await self.service.call("walk_data", at, path)
            except PathNotFoundError:
                found = []
            if len(found) != 1 or found[0][0] != path:
                raise PathNotFoundError(f"no object {key!r} in {self.name} (commit {commit.id})")
            data = found[0][1]
            if commit.finished is not None:
                self.catalog.files.put((at, path), data)
        info = ObjectInfo(key, data.size, data.hash.hex(), _when(commit))
        return PfsBlob(info, data, self.plane, at, path)

    # --- writing ---------------------------------------------------------------------

    async def _writable(self, path: str) -> str:
        if not self.writable:
            raise read_only(self.name)
        await self.service.call("inspect_branch", self.where.repo, self.where.ref)
        return await writes.check_put(self.service, self.where.target, path, False)

    def _info(self, key: str, commit: Commit, data: FileData) -> ObjectInfo:
        return ObjectInfo(key, data.size, data.hash.hex(), _when(commit))

    async def put(self, key: str, body: Body) -> ObjectInfo:
        path = await self._writable(key_path(key))
        commit, files = await writes.write_layer(
            self.service, self.plane, self.where.target, lambda w: w.put(path, body.file)
        )
        return self._info(key, commit, files[0][1])

    async def copy(self, key: str, source: Blob) -> ObjectInfo:
        path = await self._writable(key_path(key))
        if isinstance(source, PfsBlob) and source.plane.storage_uri == self.plane.storage_uri:
            commit = await self.service.call(  # moves no bytes
                "copy_file", source.commit, source.path, self.where.target, path, False
            )
            return self._info(key, commit, source.data)

        def fill(w: Any) -> None:
            w.put(path, BlobReader(source))

        commit, files = await writes.write_layer(self.service, self.plane, self.where.target, fill)
        return self._info(key, commit, files[0][1])

    async def delete(self, keys: list[str]) -> None:
        if not self.writable:
            raise read_only(self.name)
        await self.service.call("inspect_branch", self.where.repo, self.where.ref)
        await self.service.call("check_writable", self.where.target)
        paths = []
        for key in keys:
            try:
                path = key_path(key)
            except S3Error:
                continue  # no such object: deleting it is no error
            if await self.service.call("path_kind", self.where.target, path) == "file":
                paths.append(path)
        if paths:

            def fill(w: Any) -> None:
                for path in paths:
                    w.delete(path)

            await writes.write_layer(self.service, self.plane, self.where.target, fill)

    # --- multipart -------------------------------------------------------------------

    async def begin_upload(self, key: str) -> Any:
        path = await self._writable(key_path(key))
        return _Upload(path, await writes.acquire_lease(self.service))

    async def put_part(self, upload: Any, number: int, body: Body) -> StoredPart:
        data = await anyio.to_thread.run_sync(writes.store_part, self.plane, body.file)
        return StoredPart(number, data.hash.hex(), data.size, datetime.now(UTC), data)

    async def complete_upload(self, upload: Any, key: str, parts: list[StoredPart]) -> ObjectInfo:
        try:
            await self._writable(upload.path)
            data = functools.reduce(concat, (p.data for p in parts), FileData.empty())
        except BaseException:
            await self.abort_upload(upload)
            raise
        commit, _ = await writes.write_layer(
            self.service, self.plane, self.where.target,
            lambda w: w.put_data(upload.path, data), lease=upload.lease,
        )  # fmt: skip
        return self._info(key, commit, data)

    async def abort_upload(self, upload: Any) -> None:
        await self.service.call("release_lease", upload.lease)

    async def keep_alive(self, upload: Any) -> None:
        await self.service.call("heartbeat_lease", upload.lease)


class PfsCatalog:
    def __init__(self, service: Service, storage_uri: str) -> None:
        self.service = service
        self.plane = writes.DataPlane(storage_uri)
        self.listings = _LRU(16)
        self.files = _LRU(4096)

    async def list_buckets(self) -> list[tuple[str, datetime]]:
        out = []
        for repo in await self.service.call("list_repos"):
            try:
                branches = await self.service.call("list_branches", repo.name)
            except NotFoundError:  # deleted meanwhile
                continue
            out += [(bucket_name(repo.name, b.name), repo.created) for b in branches]
        return sorted(out)

    async def bucket(self, name: str) -> PfsBucket:
        return PfsBucket(self, name, parse_bucket(name))

    async def create_bucket(self, name: str) -> None:
        where = parse_bucket(name)
        if where.is_commit:
            raise S3Error("InvalidBucketName", f"{name} names a commit: a new bucket is a "
                          "branch, <branch>.<repo>")  # fmt: skip
        try:
            await self.service.call("inspect_repo", where.repo)
        except NotFoundError:
            raise S3Error(
                "InvalidRequest", f"repo {where.repo} does not exist: a bucket is a branch of a "
                f"repo; create the repo first (raypachy create repo {where.repo})",
            ) from None  # fmt: skip
        branches = await self.service.call("list_branches", where.repo)
        if any(b.name == where.ref for b in branches):
            raise AlreadyExistsError(f"bucket {name} (branch {where.target}) already exists")
        await self.service.call("create_branch", where.repo, where.ref, None)

    async def delete_bucket(self, name: str) -> None:
        bucket = await self.bucket(name)
        if bucket.where.is_commit:
            raise read_only(name)
        if await bucket.listing(""):
            raise S3Error("BucketNotEmpty", f"bucket {name} holds objects: delete them first", 409)
        await self.service.call("delete_branch", bucket.where.repo, bucket.where.ref)
