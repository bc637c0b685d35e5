"""Layered trees checked against a plain dict model under random operations."""

from __future__ import annotations

import random

import pytest

from raypachy.storage import (
    ChunkStore,
    FileSetWriter,
    ManifestStore,
    Tree,
    merge_layers,
    open_backend,
    read_bytes,
)
from raypachy.storage.compaction import compact
from raypachy.storage.manifest import BATCH_ROWS

DIRS = ["/", "/a/", "/a/b/", "/c/", "/c/d/"]


def _random_layer(rng: random.Random, w: FileSetWriter, model: dict[str, bytes]) -> None:
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        directory = rng.choice(DIRS)
        path = directory + rng.choice(["f1", "f2", "f3", "g"])
        if kind < 0.45:
            data = rng.randbytes(rng.randint(0, 40))
            w.put(path, data)
            model[path] = data
        elif kind < 0.7:
            data = rng.randbytes(rng.randint(1, 20))
            w.put(path, data, append=True)
            model[path] = model.get(path, b"") + data
        elif kind < 0.85:
            w.delete(path)
            model.pop(path, None)
        else:
            w.delete(directory)
            for key in [k for k in model if k.startswith(directory)]:
                del model[key]


@pytest.mark.parametrize("seed", range(25))
def test_layers_match_model(seed: int) -> None:
    rng = random.Random(seed)
    backend = open_backend(f"memory://tree-{seed}")
    chunks, manifests = ChunkStore(backend), ManifestStore(backend)
    model: dict[str, bytes] = {}
    stack = []
    for _ in range(8):
        w = FileSetWriter(chunks, manifests)
        _random_layer(rng, w, model)
        stack.append(w.close())
        layers = [manifests.open(m.id) for m in stack]
        tree = Tree(layers)
        got = {p: read_bytes(chunks, d) for p, d in tree.scan()}
        assert got == model
        for path in ["/a/f1", "/a/b/g", "/c/d/f3", "/f2"]:
            data = tree.lookup(path)
            assert (read_bytes(chunks, data) if data else None) == model.get(path)
        for prefix in ["/a/", "/a/b/", "/c/"]:
            assert {p for p, _ in tree.scan(prefix)} == {k for k in model if k.startswith(prefix)}
        # Merging any adjacent pair keeps the meaning; so does the compaction policy.
        i = rng.randrange(len(layers) - 1) if len(layers) > 1 else 0
        if len(layers) > 1:
            merged = manifests.put(merge_layers(layers[i : i + 2], bottom=i == 0))
            other = [*stack[:i], merged, *stack[i + 2 :]]
            tree2 = Tree([manifests.open(m.id) for m in other])
            assert {p: read_bytes(chunks, d) for p, d in tree2.scan()} == model
        stack = compact(manifests, stack)
        tree3 = Tree([manifests.open(m.id) for m in stack])
        assert {p: read_bytes(chunks, d) for p, d in tree3.scan()} == model


def test_manifest_lookup_and_scan_across_batches() -> None:
    backend = open_backend("memory://tree-batches")
    chunks, manifests = ChunkStore(backend), ManifestStore(backend)
    w = FileSetWriter(chunks, manifests)
    n = BATCH_ROWS * 3 + 17
    for i in range(n):
        w.put(f"/d{i % 7}/file{i:06d}", str(i).encode())
    info = w.close()
    m = manifests.open(info.id)
    assert m.rows == n
    assert m.lookup("/d3/file000003") is not None
    assert m.lookup("/d3/file000004") is None
    assert m.lookup("/zzz") is None and m.lookup("/") is None
    in_d2 = [e.path for e in m.scan_prefix("/d2/")]
    assert in_d2 == sorted(f"/d2/file{i:06d}" for i in range(n) if i % 7 == 2)


def test_compaction_depth_stays_logarithmic() -> None:
    backend = open_backend("memory://tree-depth")
    chunks, manifests = ChunkStore(backend), ManifestStore(backend)
    stack = []
    for i in range(200):
        w = FileSetWriter(chunks, manifests)
        w.put(f"/f{i}", b"x")
        stack = compact(manifests, [*stack, w.close()])
        assert len(stack) <= 9
    assert sum(m.rows for m in stack) == 200
