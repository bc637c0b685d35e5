from __future__ import annotations

import io
import os
import random
import tracemalloc

from raypachy.storage import (
    ChunkStore,
    FileSetWriter,
    ManifestStore,
    Tree,
    open_backend,
    read_bytes,
)


def _stores(name: str) -> tuple[ChunkStore, ManifestStore]:
    backend = open_backend(f"memory://{name}")
    return ChunkStore(backend), ManifestStore(backend)


def _write(
    chunks: ChunkStore, manifests: ManifestStore, files: dict[str, bytes]
) -> tuple[Tree, FileSetWriter]:
    w = FileSetWriter(chunks, manifests)
    for path, data in files.items():
        w.put(path, data)
    info = w.close()
    return Tree([manifests.open(info.id)]), w


def test_large_file_roundtrip_and_dedup_on_reput() -> None:
    chunks, manifests = _stores("ingest-large")
    data = os.urandom(9 << 20)
    tree, w1 = _write(chunks, manifests, {"/big": data})
    assert w1.bytes_written >= len(data)
    entry = tree.lookup("/big")
    assert entry is not None and len(entry.refs) >= 2
    assert read_bytes(chunks, entry) == data
    _, w2 = _write(chunks, manifests, {"/copy": data})
    assert w2.bytes_written == 0  # every chunk already stored


def test_insert_in_middle_rewrites_only_nearby_chunks() -> None:
    chunks, manifests = _stores("ingest-shift")
    rng = random.Random(1)
    data = rng.randbytes(16 << 20)
    _write(chunks, manifests, {"/f": data})
    shifted = data[: 8 << 20] + b"inserted!" + data[8 << 20 :]
    tree, w = _write(chunks, manifests, {"/f": shifted})
    assert w.bytes_written < 6 << 20  # content-defined chunking: boundaries re-synchronise
    assert read_bytes(chunks, tree.lookup("/f")) == shifted  # type: ignore[arg-type]


def test_small_files_are_packed_and_dedup_when_put_again() -> None:
    chunks, manifests = _stores("ingest-small")
    files = {f"/small/{i:05d}.txt": os.urandom(4096) for i in range(2000)}
    tree, _w = _write(chunks, manifests, files)
    stored = list(chunks.backend.list("chunks/"))
    assert len(stored) < 20  # 8 MiB of small files in a handful of chunks
    for path in ("/small/00000.txt", "/small/01234.txt", "/small/01999.txt"):
        assert read_bytes(chunks, tree.lookup(path)) == files[path]  # type: ignore[arg-type]
    _, again = _write(chunks, manifests, files)
    assert again.bytes_written == 0


def test_streaming_put_keeps_memory_bounded() -> None:
    chunks, manifests = _stores("ingest-stream")

    class Endless(io.RawIOBase):
        def __init__(self, total: int) -> None:
            self.left = total
            self.block = os.urandom(1 << 20)

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
            n = min(len(buf), self.left, len(self.block))
            buf[:n] = self.block[:n]
            self.left -= n
            return n

    total = 256 << 20
    tracemalloc.start()
    w = FileSetWriter(chunks, manifests)
    w.put("/stream", Endless(total))  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    info = w.close()
    assert Tree([manifests.open(info.id)]).lookup("/stream").size == total  # type: ignore[union-attr]
    assert peak < 96 << 20, f"peak traced memory {peak >> 20} MiB for a {total >> 20} MiB stream"


def test_same_layer_ordering_rules() -> None:
    chunks, manifests = _stores("ingest-order")
    w = FileSetWriter(chunks, manifests)
    w.put("/a", b"1")
    w.put("/a", b"2", append=True)
    w.put("/d/x", b"x")
    w.delete("/d/")  # removes /d/x written earlier in the same layer
    w.put("/d/y", b"y")  # survives: a delete hides only the layers below
    w.delete("/gone")
    w.put("/gone", b"new", append=True)  # append after delete is a plain put
    info = w.close()
    tree = Tree([manifests.open(info.id)])
    assert {p: read_bytes(chunks, d) for p, d in tree.scan()} == {
        "/a": b"12",
        "/d/y": b"y",
        "/gone": b"new",
    }
