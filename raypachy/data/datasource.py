"""``FilesDatasource``: one row per file of a commit (``path``, ``bytes``, ``commit``).

The driver resolves the glob once (one commit, every file's chunk refs); each read task
gets its share of the files and reads their chunks straight from storage on the worker it
runs on, or through the API where that worker cannot reach the storage.
"""

from __future__ import annotations

import contextlib
import functools
import os
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata

from raypachy.data.selection import Selection
from raypachy.errors import InvalidArgumentError
from raypachy.storage.entries import FileData

SCHEMA = pa.schema([("path", pa.string()), ("bytes", pa.binary()), ("commit", pa.string())])
BLOCK_BYTES = 128 << 20  # a read task yields blocks of about this size


def reachable(storage_uri: str) -> bool:
    """Can this process read the storage itself (as ``Client.direct_storage`` decides)?"""
    mode = os.environ.get("RAYPACHY_DATA_PLANE", "auto")
    if mode in ("direct", "api"):
        return mode == "direct"
    parsed = urlparse(storage_uri)
    if parsed.scheme == "file":
        return os.path.isdir(parsed.netloc + parsed.path)
    return parsed.scheme == "s3"


@functools.lru_cache(maxsize=4)
def chunk_store(storage_uri: str) -> Any:
    """One chunk store per storage per worker process (its cache outlives a task)."""
    from raypachy.storage import ChunkStore, open_backend

    return ChunkStore(open_backend(storage_uri))


def split(files: list[tuple[str, FileData]], parts: int) -> list[list[tuple[str, FileData]]]:
    """Contiguous groups of files of about equal bytes (path order is kept)."""
    parts = max(1, min(parts, len(files)))
    total = sum(d.size for _, d in files) or 1
    groups: list[list[tuple[str, FileData]]] = [[]]
    done = 0
    for i, item in enumerate(files):
        share = total * len(groups) / parts  # the bytes the groups so far should hold
        starved = len(files) - i <= parts - len(groups)  # one file left per group to come
        if groups[-1] and len(groups) < parts and (done >= share or starved):
            groups.append([])
        groups[-1].append(item)
        done += item[1].size
    return groups


Pieces = list[bytes | memoryview]  # a file's bytes, as slices of its chunks (no copy yet)


def _read(
    files: list[tuple[str, FileData]], commit: str, storage_uri: str, address: str
) -> Iterator[pa.Table]:
    with contextlib.ExitStack() as stack:
        if reachable(storage_uri):
            store = chunk_store(storage_uri)

            def load(item: tuple[str, FileData]) -> Pieces:
                return [
                    memoryview(store.get(r.chunk))[r.offset : r.offset + r.length]
                    for r in item[1].refs
                ]
        else:
            from raypachy.client import Client

            client = stack.enter_context(Client(address))

            def load(item: tuple[str, FileData]) -> Pieces:
                return [client.read_range(commit, item[0], 0, item[1].size)]

        # Reads from object storage (or through the API) wait on latency: keep a few files in
        # flight. Local files are read in order: threads would only fight over the GIL there.
        if urlparse(storage_uri).scheme == "file" and reachable(storage_uri):
            loaded: Iterator[Pieces] = map(load, files)
        else:
            pool = stack.enter_context(ThreadPoolExecutor(4, thread_name_prefix="raypachy-read"))
            loaded = pool.map(load, files)
        batch: list[tuple[str, FileData]] = []
        pieces: Pieces = []
        size = 0
        for item, parts in zip(files, loaded, strict=True):
            batch.append(item)
            pieces.extend(parts)
            size += item[1].size
            if size >= BLOCK_BYTES:
                yield _table(batch, pieces, commit)
                batch, pieces, size = [], [], 0
        if batch:
            yield _table(batch, pieces, commit)


def _table(files: list[tuple[str, FileData]], pieces: Pieces, commit: str) -> pa.Table:
    """One block: the files' bytes copied once, straight into the Arrow column's buffer."""
    offsets = [0]
    for path, data in files:
        offsets.append(offsets[-1] + data.size)
        if offsets[-1] >= 1 << 31:
            raise InvalidArgumentError(
                f"{path} in {commit} does not fit a binary column (2 GiB per block): read it "
                "with the raypachy:// filesystem instead"
            )
    column = pa.Array.from_buffers(
        pa.binary(), len(files),
        [None, pa.py_buffer(array("i", offsets)), pa.py_buffer(b"".join(pieces))],
    )  # fmt: skip
    return pa.table(
        [pa.array([p for p, _ in files], pa.string()), column,
         pa.array([commit] * len(files), pa.string())],
        schema=SCHEMA,
    )  # fmt: skip


class FilesDatasource(Datasource):  # type: ignore[misc]
    """The files of a ``Selection`` as rows; see ``raypachy.data.read_files``."""

    def __init__(self, selection: Selection, storage_uri: str, address: str) -> None:
        self.selection = selection
        self._storage_uri = storage_uri
        self._address = address

    def get_name(self) -> str:
        return "RaypachyFiles"

    def estimate_inmemory_data_size(self) -> int:
        return self.selection.size_bytes

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        commit = str(self.selection.commit)
        tasks = []
        for group in split(list(self.selection.files), parallelism):
            meta = BlockMetadata(
                num_rows=len(group),
                size_bytes=sum(d.size for _, d in group),
                input_files=None,
                exec_stats=None,
            )
            read = functools.partial(_read, group, commit, self._storage_uri, self._address)
            tasks.append(ReadTask(read, meta, schema=SCHEMA, per_task_row_limit=per_task_row_limit))
        return tasks
