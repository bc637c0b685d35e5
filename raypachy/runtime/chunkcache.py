"""The node chunk cache: one actor per node keeps the chunks its datums read from remote storage.

``raypachy:chunkcache:<node id>`` (namespace ``raypachy``, detached, no CPU, restarted by Ray)
owns a directory of chunk files on its node, bounded by ``RAYPACHY_CACHE_BYTES`` (default
2 GiB) with least-recently-used eviction. A datum task asks it for the chunks it needs and
gets back file paths; it reads the files itself, so bytes never pass through the actor's
mailbox. However many tasks ask for one chunk at once, the actor fetches it once.

Only remote storage (``s3://``) is cached: on ``file://`` storage the chunks already are
local files. Cached files hold the chunk as stored (header and payload) and the reader
verifies every chunk against its id, so a corrupted cache file is detected, dropped and
fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlparse

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raypachy.errors import ChunkCorruptedError, InvalidArgumentError
from raypachy.runtime.names import NAMESPACE
from raypachy.storage import ChunkStore, open_backend
from raypachy.storage.backend import Backend
from raypachy.storage.chunkstore import chunk_key

DEFAULT_CACHE_BYTES = 2 << 30  # fits a laptop's disk; a node with more sets RAYPACHY_CACHE_BYTES
LOCAL_SCHEMES = ("file", "memory")  # chunks already local (or in this process): no cache


def cache_name(node_id: str) -> str:
    return f"raypachy:chunkcache:{node_id}"


def cache_bytes() -> int:
    """``RAYPACHY_CACHE_BYTES`` (a positive integer of bytes), or the default."""
    raw = os.environ.get("RAYPACHY_CACHE_BYTES", "").strip()
    if not raw:
        return DEFAULT_CACHE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise InvalidArgumentError(
            f"RAYPACHY_CACHE_BYTES={raw!r} is not a positive number of bytes: set it to, for "
            f"example, {DEFAULT_CACHE_BYTES} (2 GiB), or unset it"
        )
    return value


def is_cached(storage: str) -> bool:
    """Whether chunks of ``storage`` go through the node cache (remote storage only)."""
    return urlparse(storage).scheme not in LOCAL_SCHEMES


class DiskCache:
    """A size-bounded LRU directory of chunk files over one backend; thread-safe.

    ``path(id)`` returns the local file of a chunk, fetching it first if needed; concurrent
    calls for one missing chunk wait for a single fetch.
    """

    def __init__(self, backend: Backend, directory: str, max_bytes: int) -> None:
        self.backend, self.dir, self.max_bytes = backend, directory, max_bytes
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._lock = threading.Lock()
        self._index: OrderedDict[bytes, int] = OrderedDict()  # chunk id -> size, LRU first
        self._size = 0
        self._inflight: dict[bytes, threading.Event] = {}
        self.fetches = self.hits = self.evictions = self.invalidations = 0
        self._adopt()

    def _adopt(self) -> None:
        """After a restart: keep the files a previous incarnation left, oldest fetched first
        (their order of use died with it)."""
        found = []
        for entry in os.scandir(self.dir):
            if entry.name.startswith("."):  # a fetch that never finished
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                continue
            with contextlib.suppress(ValueError, OSError):
                st = entry.stat()
                found.append((st.st_mtime, bytes.fromhex(entry.name), st.st_size))
        for _, chunk_id, size in sorted(found):
            self._index[chunk_id] = size
            self._size += size
        with self._lock:
            self._evict()

    def file(self, chunk_id: bytes) -> str:
        return os.path.join(self.dir, chunk_id.hex())

    def path(self, chunk_id: bytes) -> str:
        while True:
            with self._lock:
                if chunk_id in self._index:
                    self._index.move_to_end(chunk_id)
                    self.hits += 1
                    return self.file(chunk_id)
                waiting = self._inflight.get(chunk_id)
                if waiting is None:
                    done = self._inflight[chunk_id] = threading.Event()
            if waiting is not None:
                waiting.wait()  # another request fetches it; then look again
                continue
            size = -1
            try:
                size = self._fetch(chunk_id)
            finally:
                with self._lock:
                    del self._inflight[chunk_id]
                    if size >= 0:
                        self.fetches += 1
                        self._index[chunk_id] = size
                        self._size += size
                        self._evict()
                done.set()
            return self.file(chunk_id)

    def _fetch(self, chunk_id: bytes) -> int:
        blob = self.backend.get(chunk_key(chunk_id))
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, self.file(chunk_id))  # readers see the whole file or none
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return len(blob)

    def _evict(self) -> None:
        """Drop least recently used files until under the bound (lock held). The newest file
        stays even if it alone is larger: its reader is about to open it."""
        while self._size > self.max_bytes and len(self._index) > 1:
            old, size = self._index.popitem(last=False)
            self._size -= size
            self.evictions += 1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.file(old))  # a reader that has it open keeps reading

    def invalidate(self, chunk_id: bytes) -> None:
        """A reader found the file corrupted: forget it, so the next request fetches again."""
        with self._lock:
            size = self._index.pop(chunk_id, None)
            if size is not None:
                self._size -= size
                self.invalidations += 1
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.file(chunk_id))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fetches": self.fetches, "hits": self.hits, "evictions": self.evictions,
                "invalidations": self.invalidations, "bytes": self._size,
                "max_bytes": self.max_bytes, "chunks": len(self._index), "dir": self.dir,
            }  # fmt: skip


def _cache_root() -> str:
    """This node's Ray session directory (removed with the session), else the temp dir."""
    try:
        from ray._private.worker import global_worker

        return os.path.join(global_worker.node.get_session_dir_path(), "raypachy-chunks")
    except Exception:  # a private API of Ray's: if it moves, the temp dir still works
        return os.path.join(tempfile.gettempdir(), f"raypachy-chunks-{os.getuid()}")


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=32)
class ChunkCacheActor:
    """Owns one node's chunk cache directory (one ``DiskCache`` per storage)."""

    def __init__(self, node_id: str, max_bytes: int | None = None, root: str | None = None) -> None:
        self.node_id = node_id
        self.max_bytes = max_bytes or cache_bytes()
        self.root = os.path.join(root or _cache_root(), node_id[:16])
        self._caches: dict[str, DiskCache] = {}
        self._lock = threading.Lock()

    def _cache(self, storage: str) -> DiskCache:
        with self._lock:
            cache = self._caches.get(storage)
            if cache is None:
                sub = hashlib.sha256(storage.encode()).hexdigest()[:16]
                cache = self._caches[storage] = DiskCache(
                    open_backend(storage), os.path.join(self.root, sub), self.max_bytes
                )
            return cache

    def paths(self, storage: str, chunk_ids: list[bytes]) -> list[str]:
        """The local files of ``chunk_ids`` (fetched first where missing)."""
        cache = self._cache(storage)
        return [cache.path(c) for c in chunk_ids]

    def invalidate(self, storage: str, chunk_id: bytes) -> None:
        self._cache(storage).invalidate(chunk_id)

    def stats(self, storage: str) -> dict[str, Any]:
        return {**self._cache(storage).stats(), "node": self.node_id, "pid": os.getpid()}


def cache_actor(node_id: str) -> Any:
    """The chunk cache actor of ``node_id``, started there if it is not running."""
    return ChunkCacheActor.options(  # type: ignore[attr-defined]
        name=cache_name(node_id), namespace=NAMESPACE, lifetime="detached",
        get_if_exists=True,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    ).remote(node_id)  # fmt: skip


def start_chunk_caches(storage: str) -> list[str]:
    """Start the chunk cache actor of every live node (for remote storage); their node ids."""
    if not is_cached(storage):
        return []
    cache_bytes()  # a bad RAYPACHY_CACHE_BYTES is refused when serving starts, not per datum
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    for node_id in nodes:
        cache_actor(node_id)
    return nodes


class CachedChunkStore(ChunkStore):
    """A ``ChunkStore`` whose reads go through the node's chunk cache actor.

    Reads verify each chunk as usual; a cached file that fails verification is dropped
    from the cache and fetched once more, and a cache that cannot be reached falls back to
    reading the backend directly. Writes go straight to the backend.
    """

    def __init__(self, storage: str, actor: Any, cache_bytes: int = 256 << 20) -> None:
        super().__init__(open_backend(storage), cache_bytes=cache_bytes)
        self.storage, self.actor = storage, actor

    def get(self, chunk_id: bytes) -> bytes:
        cached = self._cache.get(chunk_id)
        if cached is not None:
            return cached
        for _ in range(3):
            try:
                [path] = ray.get(self.actor.paths.remote(self.storage, [chunk_id]))
            except ray.exceptions.RayError:
                break  # the cache is down: the data path must not be
            try:
                with open(path, "rb") as f:
                    blob = f.read()
            except FileNotFoundError:
                continue  # evicted between the answer and the open: ask again
            try:
                data = self._decode(chunk_id, blob, mark=False)
            except ChunkCorruptedError:
                try:
                    ray.get(self.actor.invalidate.remote(self.storage, chunk_id))
                except ray.exceptions.RayError:
                    break
                continue
            self._cache.put(chunk_id, data)
            return data
        return super().get(chunk_id)  # verified against the backend; marks it if bad there


_READERS: dict[str, CachedChunkStore] = {}


def chunk_reader(storage: str) -> ChunkStore | None:
    """The reader a datum task on this node uses for ``storage``: through the node's chunk
    cache for remote storage (starting the cache if the node joined after the control
    plane), ``None`` where chunks already are local."""
    if not is_cached(storage):
        return None
    reader = _READERS.get(storage)
    if reader is None:
        actor = cache_actor(ray.get_runtime_context().get_node_id())
        reader = _READERS[storage] = CachedChunkStore(storage, actor)
    return reader
