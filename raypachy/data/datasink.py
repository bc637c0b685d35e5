"""``Datasink``: a Ray Data write that becomes one commit.

    ds.write_datasink(raypachy.data.Datasink("out@master:/tables/iris", format="parquet"))

``on_write_start`` (driver) takes a writer lease, so garbage collection keeps what the
workers write; each write task encodes its blocks as one file, writes its chunks straight
to storage and returns the small manifest naming them; ``on_write_complete`` (driver)
folds those manifests into one layer and registers it as one commit, with ``provenance``
pointing at the commits the data came from. A failed write registers nothing: the chunks
already written are garbage for ``raypachy gc``.
"""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from ray.data import Datasink as RayDatasink
from ray.data.block import BlockAccessor

from raypachy.errors import InvalidArgumentError, InvalidPathError, UnavailableError
from raypachy.pfs.address import Address, parse_address
from raypachy.pfs.model import Commit, CommitRef
from raypachy.pfs.names import is_commit_id
from raypachy.pfs.refs import DEFAULT_BRANCH

if TYPE_CHECKING:
    from raypachy.client import Client
    from raypachy.storage.manifest import ManifestInfo

FORMATS = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}
MODES = ("append", "overwrite")


def _encode(table: pa.Table, fmt: str, options: dict[str, Any]) -> bytes:
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink, **options)
    elif fmt == "csv":
        pacsv.write_csv(table, sink, **options)
    else:
        table.to_pandas().to_json(sink, orient="records", lines=True, **options)
    return sink.getvalue()


class _SyncLater:
    """A worker's view of the storage: every put as usual, but ``sync`` is left to the
    driver, which makes the whole write durable with one sync before it registers the
    commit (a per-task ``syncfs`` costs more than the write on a busy disk)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.uri = backend.uri

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def sync(self) -> None:
        pass


@functools.lru_cache(maxsize=4)
def _stores(storage_uri: str) -> tuple[Any, Any]:
    from raypachy.storage import ChunkStore, ManifestStore, open_backend

    backend = _SyncLater(open_backend(storage_uri))
    return ChunkStore(backend), ManifestStore(backend)


def _commit_ref(value: CommitRef | str) -> CommitRef:
    if isinstance(value, CommitRef):
        return value
    addr = parse_address(value)
    if addr.ref is None or not is_commit_id(addr.ref) or addr.ancestry:
        raise InvalidArgumentError(f"provenance {value!r} is not a commit: write repo@<commit id>")
    return CommitRef(addr.repo, addr.ref)


class Datasink(RayDatasink):  # type: ignore[misc]
    """Write a dataset as files under ``repo@branch:/dir`` in one commit.

    ``format`` is ``parquet``, ``csv`` or ``json`` (JSON lines); ``mode="append"`` adds
    files beside those in ``dir``, ``"overwrite"`` makes ``dir`` hold only this write.
    ``provenance`` names the commits the data was computed from (``repo@<id>`` strings or
    ``CommitRef``s; ``raypachy.data.provenance_of(ds)`` finds them for datasets read with
    ``raypachy.data``). Other keyword arguments go to the encoder
    (``pyarrow.parquet.write_table``, ``pyarrow.csv.write_csv``).
    """

    def __init__(
        self,
        target: str,
        format: str = "parquet",
        *,
        mode: str = "append",
        provenance: Iterable[CommitRef | str] = (),
        address: str | None = None,
        **write_args: Any,
    ) -> None:
        addr = parse_address(target)
        ref = addr.ref or DEFAULT_BRANCH
        if is_commit_id(ref) or addr.ancestry:
            raise InvalidPathError(f"cannot write to {target}: write to a branch, e.g. repo@master")
        if format not in FORMATS:
            raise InvalidArgumentError(
                f"unknown format {format!r}: use one of {', '.join(FORMATS)}"
            )
        if mode not in MODES:
            raise InvalidArgumentError(f"unknown mode {mode!r}: use 'append' or 'overwrite'")
        self.branch = Address(addr.repo, ref, 0, None)
        self.dir = (addr.path or "/").rstrip("/")
        self.format = format
        self.mode = mode
        self.provenance = tuple(_commit_ref(p) for p in provenance)
        self.write_args = write_args
        self.address = address
        self.storage_uri = ""
        self.write_id = ""
        self.commit: Commit | None = None  # the commit the write made (on the driver)
        self._driver: dict[str, Any] = {}  # client and lease: never sent to the workers

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_driver"] = {}
        return state

    def get_name(self) -> str:
        return "Raypachy"

    def _client(self) -> Client:
        if "client" not in self._driver:
            from raypachy.client import connect

            self._driver["client"] = connect(self.address)
        client: Client = self._driver["client"]
        return client

    # --- driver: start ---------------------------------------------------------------------

    def on_write_start(self, schema: Any = None) -> None:
        client = self._client()
        if not client.direct_storage:
            raise UnavailableError(
                f"this driver cannot reach storage {client.storage_uri}: the datasink writes "
                "chunks straight to it (give the driver and the workers access to it)"
            )
        client.check_writable(str(self.branch))
        self.storage_uri = client.storage_uri
        self.write_id = uuid.uuid4().hex[:12]
        lease = client.write_lease()
        self._driver["lease_id"] = lease.__enter__()
        self._driver["lease"] = lease

    # --- workers ---------------------------------------------------------------------------

    def write(self, blocks: Iterable[Any], ctx: Any) -> tuple[str, int] | None:
        tables = [BlockAccessor.for_block(b).to_arrow() for b in blocks]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return None
        table = pa.concat_tables(tables, promote_options="default")
        data = _encode(table, self.format, self.write_args)
        name = f"{self.write_id}_{ctx.task_idx:06d}.{FORMATS[self.format]}"
        from raypachy.storage import FileSetWriter

        chunks, manifests = _stores(self.storage_uri)
        writer = FileSetWriter(chunks, manifests)
        writer.put(f"{self.dir}/{name}", data)
        layer = writer.close()
        return layer.id, table.num_rows

    # --- driver: end -----------------------------------------------------------------------

    def on_write_complete(self, write_result: Any) -> None:
        from raypachy.storage import FileSetWriter

        if "lease" not in self._driver:  # nothing reached the workers (an empty dataset)
            self.on_write_start()
        client = self._client()
        try:
            writer = FileSetWriter(client.chunks, client.manifests)
            if self.mode == "overwrite":
                writer.delete(self.dir + "/")
            for result in write_result.write_returns:
                if result is not None:
                    for entry in client.manifests.open(result[0]):
                        writer.put_data(entry.path, entry.data)
            if writer.changes == 0:
                writer.abort()
                return
            layer = writer.close()  # syncs the storage: the workers' chunks are durable too
            self.commit = self._register(client, layer)
        finally:
            self._release()

    def _register(self, client: Client, layer: ManifestInfo) -> Commit:
        lease_id = self._driver["lease_id"]
        if not self.provenance:
            commit: Commit = client.register_layer(str(self.branch), layer.id, lease_id)
            return commit
        opened = client.start_commit(
            str(self.branch), description=f"ray data write to {self.dir or '/'}",
            provenance=self.provenance,
        )  # fmt: skip
        target = Address(self.branch.repo, opened.id, 0, None)
        try:
            client.register_layer(str(target), layer.id, lease_id)
            finished: Commit = client.finish_commit(str(target))
        except BaseException:
            client.delete_commit(str(target))  # the branch goes back: nothing is visible
            raise
        return finished

    def on_write_failed(self, error: Exception) -> None:
        self._release()

    def _release(self) -> None:
        lease = self._driver.pop("lease", None)
        if lease is not None:
            lease.__exit__(None, None, None)
