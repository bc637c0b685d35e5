"""Garbage collection: delete the manifests and chunks no commit can reach.

gc holds the gc lock for its whole run (no writer is in flight meanwhile) and checks that it
still holds it before every delete. A manifest that commits reference but that cannot be
read does not stop gc: unreachable manifests are still deleted, but every chunk is kept (the
lost manifest's chunks are unknown) and the report counts it, for ``fsck`` to explain.
"""

from __future__ import annotations

from collections.abc import Callable

from raypachy.errors import StorageError
from raypachy.pfs.leases import Leases
from raypachy.pfs.metadata import MetadataStore
from raypachy.pfs.model import GCReport
from raypachy.storage.chunkstore import (
    CHUNK_PREFIX,
    SUSPECT_PREFIX,
    ChunkStore,
    chunk_id_from_key,
)
from raypachy.storage.manifest import MANIFEST_PREFIX, ManifestStore


def collect_garbage(
    meta: MetadataStore,
    leases: Leases,
    chunks: ChunkStore,
    manifests: ManifestStore,
    extra_chunks: Callable[[], set[bytes]] = set,
    extra_manifests: Callable[[], set[str]] = set,
    on_phase: Callable[[str], None] | None = None,
) -> GCReport:
    """Delete unreachable objects. Raises ``GCBusyError`` while writers are in flight, or if
    gc loses its lock part way (then it deletes nothing more).

    ``extra_chunks`` and ``extra_manifests`` name objects referenced from outside commits
    (stored pipeline code, batches of interrupted jobs waiting to resume). ``on_phase`` is
    called with ``"deleting"`` once the live set is known, before the first delete.
    """
    with leases.gc() as lock:
        with meta.read() as tx:
            live_manifests = {m.id for m in tx.all_layers()}
        live_manifests |= extra_manifests()
        live_chunks: set[bytes] = set(extra_chunks())
        unreadable = 0
        for manifest_id in sorted(live_manifests):
            try:
                live_chunks |= manifests.open(manifest_id).chunk_ids()
            except StorageError:
                unreadable += 1
        if on_phase is not None:
            on_phase("deleting")
        backend = chunks.backend
        manifests_deleted = 0
        for key in list(backend.list(MANIFEST_PREFIX)):
            if key.rsplit("/", 1)[-1] not in live_manifests:
                lock.check()
                backend.delete(key)
                manifests_deleted += 1
        chunks_deleted = kept = 0
        for key in list(backend.list(CHUNK_PREFIX)):
            chunk_id = chunk_id_from_key(key)
            if chunk_id is not None and chunk_id not in live_chunks and not unreadable:
                lock.check()
                backend.delete(key)
                chunks_deleted += 1
            else:
                kept += 1
        for key in list(backend.list(SUSPECT_PREFIX)):  # marks of chunks that are gone
            chunk_id = chunk_id_from_key(key)
            if chunk_id is None or not chunks.exists(chunk_id):
                lock.check()
                backend.delete(key)
        sweep = getattr(backend, "sweep_temp_files", None)
        temp = sweep() if sweep is not None else 0
        return GCReport(manifests_deleted, chunks_deleted, temp, kept, unreadable)
