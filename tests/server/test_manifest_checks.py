"""A client-written manifest is checked in full before its layer enters a commit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from fastapi.testclient import TestClient

from raypachy.pachd import Pachd
from raypachy.pfs import PFS
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.storage import ChunkRef, Entry, FileData, Op
from raypachy.storage.chunkstore import hash_bytes
from raypachy.storage.ingest import chunk_list_hash
from raypachy.storage.manifest import (
    _REF_TYPE,
    _WRITE_OPTIONS,
    SCHEMA,
    ManifestInfo,
    _to_batch,
    manifest_key,
)

E = FileData.empty()


def raw_manifest(
    pfs: PFS, batches: list[list[Entry]], first_paths: list[str] | None = None,
    rows: int | None = None,
) -> str:  # fmt: skip
    """Store a manifest as a buggy or hostile client could: any order, any footer."""
    firsts = first_paths if first_paths is not None else [b[0].path for b in batches]
    meta = {b"raypachy": b"manifest-v1", b"first_paths": json.dumps(firsts).encode(),
            b"rows": str(sum(map(len, batches)) if rows is None else rows).encode()}  # fmt: skip
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, SCHEMA, options=_WRITE_OPTIONS, metadata=meta) as w:
        for entries in batches:
            w.write_batch(_to_batch(entries))
    data = sink.getvalue().to_pybytes()
    manifest_id = hash_bytes(data).hex()
    pfs.backend.put(manifest_key(manifest_id), data)
    return manifest_id


def _store_batch(pfs: PFS, batch: pa.RecordBatch) -> str:
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, SCHEMA, options=_WRITE_OPTIONS) as w:
        w.write_batch(batch)
    data = sink.getvalue().to_pybytes()
    manifest_id = hash_bytes(data).hex()
    pfs.backend.put(manifest_key(manifest_id), data)
    return manifest_id


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, PFS]:
    pfs = PFS.open(str(tmp_path / "home"))
    api = TestClient(create_app(LocalService(Pachd(pfs)), pfs.backend.uri),
                     base_url="http://127.0.0.1", raise_server_exceptions=False)  # fmt: skip
    pfs.create_repo("r")
    pfs.put_file("r@master", "/data/f.csv", b"good,data\n")
    return api, pfs


def register(api: TestClient, manifest_id: str) -> tuple[int, str]:
    lease = api.post("/v1/leases", json={}).json()["id"]
    r = api.post("/v1/layers", json={"target": "r@master", "manifest_id": manifest_id,
                                      "lease_id": lease})  # fmt: skip
    return r.status_code, r.json().get("message", "")


def _ref(pfs: PFS, data: bytes, offset: int = 0, length: int | None = None) -> ChunkRef:
    chunk_id, _ = pfs.chunks.put(data)
    return ChunkRef(chunk_id, offset, len(data) if length is None else length)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unlisted batch", "not a normalised absolute path"),
        ("missing chunk", "which is not stored"),
        ("negative offset", "invalid chunk reference"),
        ("past the chunk", "past the end of chunk"),
        ("size mismatch", "its chunk references hold 3 bytes"),
        ("unsorted", "out of order or repeated: '/a' after '/z'"),
        ("repeated", "out of order or repeated: '/a' after '/a'"),
        ("put a directory", "only a delete may name a directory"),
        ("delete with data", "a delete carries no data"),
        ("unknown op", "cannot be read"),
        ("null chunk id", "empty (null) values"),
    ],
)
def test_malformed_manifests_are_refused(
    setup: tuple[TestClient, PFS], case: str, message: str
) -> None:
    api, pfs = setup
    before = pfs.inspect_branch("r", "master").head
    zzz = _ref(pfs, b"zzz")
    entries = {
        "missing chunk": [[Entry("/m", Op.PUT, FileData(5, hash_bytes(b"?????"),
                                                        (ChunkRef(b"\x11" * 32, 0, 5),)))]],
        "negative offset": [[Entry("/n", Op.PUT, FileData(3, hash_bytes(b"zzz"),
                                                          (ChunkRef(zzz.chunk, -2, 3),)))]],
        "past the chunk": [[Entry("/p", Op.PUT, FileData(3, hash_bytes(b"zzz"),
                                                         (ChunkRef(zzz.chunk, 1, 3),)))]],
        "size mismatch": [[Entry("/s", Op.PUT, FileData(100, hash_bytes(b"zzz"), (zzz,)))]],
        "unsorted": [[Entry("/z", Op.PUT, E), Entry("/a", Op.PUT, E)]],
        "repeated": [[Entry("/a", Op.PUT, E)], [Entry("/a", Op.DELETE, E)]],
        "put a directory": [[Entry("/d/", Op.PUT, E)]],
        "delete with data": [[Entry("/x", Op.DELETE, FileData(3, hash_bytes(b"zzz"), (zzz,)))]],
    }  # fmt: skip
    if case == "null chunk id":
        refs = pa.array([[{"chunk": None, "offset": 0, "length": 3}]], pa.list_(_REF_TYPE))
        batch = _to_batch([Entry("/o", Op.PUT, E)])
        batch = pa.record_batch([*batch.columns[:4], refs], schema=SCHEMA)
        mid = _store_batch(pfs, batch)
    elif case == "unlisted batch":  # the footer lists only the first batch
        mid = raw_manifest(
            pfs,
            [[Entry("/ok", Op.PUT, E)], [Entry("/../../etc/passwd", Op.PUT, E)]],
            first_paths=["/ok"],
        )
    elif case == "unknown op":
        batch = _to_batch([Entry("/o", Op.PUT, E)])
        ops = pa.array([7], pa.int8())
        batch = pa.record_batch([batch.column(0), ops, *batch.columns[2:]], schema=SCHEMA)
        mid = _store_batch(pfs, batch)
    else:
        mid = raw_manifest(pfs, entries[case])
    status, text = register(api, mid)
    assert status == 400 and message in text, text
    assert pfs.inspect_branch("r", "master").head == before  # nothing was committed
    for i in range(3):  # and the branch takes ordinary writes
        r = api.post("/v1/files/upload", params={"target": "r@master", "path": f"/n{i}"},
                     content=b"y")  # fmt: skip
        assert r.status_code == 200, r.text


def test_a_spoofed_hash_cannot_hide_a_change(setup: tuple[TestClient, PFS]) -> None:
    api, pfs = setup
    old = pfs.inspect_file("r@master", "/data/f.csv")
    evil = _ref(pfs, b"evil,data\n")
    spoof = FileData(old.size_bytes, bytes.fromhex(old.hash), (evil,))
    assert register(api, raw_manifest(pfs, [[Entry("/data/f.csv", Op.PUT, spoof)]]))[0] == 200
    new = pfs.inspect_file("r@master", "/data/f.csv")
    assert new.hash == hash_bytes(b"evil,data\n").hex() != old.hash
    diff = api.get("/v1/files/diff", params={"new": "r@master"}).json()
    assert [(c["path"], c["change"]) for c in diff] == [("/data/f.csv", "modified")]
    # A large file (whole chunks) is rehashed from its chunk ids, without reading them.
    big = os.urandom(3 << 20)
    first, second = _ref(pfs, big[: 2 << 20]), _ref(pfs, big[2 << 20 :])
    lie = FileData(len(big), old.hash and bytes(32), (first, second))
    assert register(api, raw_manifest(pfs, [[Entry("/big", Op.PUT, lie)]]))[0] == 200
    assert (
        pfs.inspect_file("r@master", "/big").hash
        == chunk_list_hash([first.chunk, second.chunk]).hex()
    )
    assert pfs.get_file("r@master", "/big") == big


def test_rows_and_first_paths_come_from_the_file(setup: tuple[TestClient, PFS]) -> None:
    api, pfs = setup
    mid = raw_manifest(pfs, [[Entry("/hidden", Op.PUT, E)]], rows=0, first_paths=[])
    assert register(api, mid)[0] == 200
    assert "/hidden" in [f.path for f in pfs.list_files("r@master")]


def test_fsck_reports_an_out_of_order_manifest(setup: tuple[TestClient, PFS]) -> None:
    _, pfs = setup
    mid = raw_manifest(pfs, [[Entry("/z", Op.PUT, E), Entry("/a", Op.PUT, E)]])
    commit = pfs.start_commit("r@master")
    with pfs.leases.writer() as lease:  # the library trusts its own writers: no check here
        pfs.commits.stage("r", commit.id, ManifestInfo(mid, 2), lease)
    problems = pfs.fsck().problems
    assert any(p.subject == mid and "out of order" in p.message for p in problems), problems
