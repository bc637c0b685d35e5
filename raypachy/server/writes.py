"""The upload sequence the front doors share: bytes go to the chunk store, then one layer.

A server-side write (``/v1/files/upload``, the S3 gateway's PutObject and multipart
uploads) holds a writer lease from before its first chunk until its layer is registered, so
gc never takes chunks it still needs; any failure before ``register_layer`` leaves nothing
visible (the lease is released, the chunks become garbage).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from raypachy.server.leasing import heartbeating
from raypachy.server.service import Service
from raypachy.storage import ChunkStore, FileData, FileSetWriter, ManifestStore


class DataPlane:
    """The chunk and manifest stores of one storage URI, opened on first use."""

    def __init__(self, storage_uri: str) -> None:
        self.storage_uri = storage_uri
        self._lock = threading.Lock()
        self._chunks: ChunkStore | None = None
        self._manifests: ManifestStore | None = None

    def _open(self) -> None:
        with self._lock:
            if self._chunks is None:
                from raypachy.storage import open_backend

                backend = open_backend(self.storage_uri)
                self._manifests = ManifestStore(backend)
                self._chunks = ChunkStore(backend)

    def chunks(self) -> ChunkStore:
        if self._chunks is None:
            self._open()
        assert self._chunks is not None
        return self._chunks

    def manifests(self) -> ManifestStore:
        if self._manifests is None:
            self._open()
        assert self._manifests is not None
        return self._manifests


async def check_put(service: Service, target: str, path: str, append: bool) -> str:
    """Refuse a write before any byte is stored; returns the normalised path."""
    from raypachy.pfs.finish import directory_in_the_way
    from raypachy.pfs.names import normalize_path

    await service.call("check_writable", target)
    path = normalize_path(path, allow_root=False)
    if not append and await service.call("path_kind", target, path) == "dir":
        raise directory_in_the_way(path)
    return path


async def acquire_lease(service: Service) -> str:
    lease: str = await service.call("grant_lease", socket.gethostname(), os.getpid())
    return lease


async def write_layer(
    service: Service,
    plane: DataPlane,
    target: str,
    fill: Callable[[FileSetWriter], None],
    lease: str | None = None,
) -> tuple[Any, list[tuple[str, FileData]]]:
    """Run ``fill`` on a new layer's writer, then register the layer on ``target``.

    Uses ``lease`` (an upload's, held since its start) or takes one; either way it is
    released. Returns the commit and the (path, content) of every file the layer puts.
    """
    store = await anyio.to_thread.run_sync(plane.chunks)
    lease = lease or await acquire_lease(service)

    def write() -> tuple[str, list[tuple[str, FileData]]]:
        writer = FileSetWriter(store, plane.manifests())
        try:
            fill(writer)
        except BaseException:
            writer.abort()
            raise
        layer = writer.close()
        return layer.id, [(e.path, e.data) for e in plane.manifests().open(layer.id)]

    try:
        manifest_id, files = await heartbeating(service, lease, write)
    except BaseException:
        await service.call("release_lease", lease)
        raise
    commit = await service.call("register_layer", target, manifest_id, lease)
    return commit, files


def store_part(plane: DataPlane, source: Any) -> FileData:
    """Store a stream as chunks, recording no path (a part of an upload still in progress):
    ``put_data`` puts the parts together later without moving their bytes."""
    writer = FileSetWriter(plane.chunks(), plane.manifests())
    try:
        return writer.store(source)
    finally:
        writer.abort()  # no manifest: the parts' chunks stay, under the upload's lease
