from __future__ import annotations

import os
from pathlib import Path

import pytest

from raypachy.errors import ChunkCorruptedError
from raypachy.storage import ChunkStore, open_backend
from raypachy.storage.chunkstore import RAW, ZSTD, chunk_key, hash_bytes


def test_put_dedups_and_get_roundtrips(storage_uri: str) -> None:
    store = ChunkStore(open_backend(storage_uri))
    data = b"abc" * 10000
    cid, written = store.put(data)
    assert cid == hash_bytes(data)
    assert written > 0
    again, written_again = store.put(data)
    assert again == cid and written_again == 0
    assert store.get(cid) == data
    assert list(store.backend.list("chunks/")) == [chunk_key(cid)]


def test_compressible_data_is_compressed_random_is_raw() -> None:
    backend = open_backend("memory://chunk-compress")
    store = ChunkStore(backend)
    text_id, text_written = store.put(b"hello world\n" * 50000)
    rand_id, rand_written = store.put(os.urandom(200000))
    assert backend.get(chunk_key(text_id))[:1] == ZSTD and text_written < 600000 / 10
    assert backend.get(chunk_key(rand_id))[:1] == RAW and rand_written == 200001


@pytest.mark.parametrize("damage", ["flip", "truncate", "header"])
def test_corrupted_chunk_is_an_error_naming_it(tmp_path: Path, damage: str) -> None:
    backend = open_backend(f"file://{tmp_path}")
    store = ChunkStore(backend)
    cid, _ = store.put(b"precious bytes " * 1000)
    path = backend.local_path(chunk_key(cid))
    assert path is not None
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        del blob[len(blob) // 2 :]
    else:
        blob[0] = 7
    with open(path, "wb") as f:
        f.write(bytes(blob))
    fresh = ChunkStore(backend)  # no cached copy
    with pytest.raises(ChunkCorruptedError, match=cid.hex()):
        fresh.get(cid)


def test_putting_the_same_bytes_again_repairs_a_corrupted_chunk(tmp_path: Path) -> None:
    backend = open_backend(f"file://{tmp_path}")
    data = b"important,row\n" * 1000
    cid, _ = ChunkStore(backend).put(data)
    path = backend.local_path(chunk_key(cid))
    assert path is not None
    with open(path, "r+b") as f:  # bit rot: same size, other bytes
        f.seek(-5, 2)
        f.write(b"XXXXX")
    reader = ChunkStore(backend)  # another process reads and finds it corrupted
    with pytest.raises(ChunkCorruptedError):
        reader.get(cid)
    uploader = ChunkStore(backend)  # another process puts the same bytes again
    chunk_id, written = uploader.put(data)
    assert chunk_id == cid and written > 0  # the stored chunk was rewritten, not skipped
    assert ChunkStore(backend).get(cid) == data
    assert ChunkStore(backend).suspects() == set()  # the repair cleared the mark
    assert ChunkStore(backend).put(data)[1] == 0  # and puts dedup again
