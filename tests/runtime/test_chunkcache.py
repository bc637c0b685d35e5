"""The node chunk cache: the LRU directory itself, then the actor on a cluster over SeaweedFS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raypachy.errors import InvalidArgumentError
from raypachy.runtime.chunkcache import DiskCache, cache_bytes, is_cached
from raypachy.storage import ChunkStore
from raypachy.storage.memory import MemoryBackend
from tests.conftest import LocalCluster, start_cluster
from tests.s3server import S3Server


class CountingBackend(MemoryBackend):
    """A memory backend that counts GETs and makes each one slow, as a remote store is."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.gets: dict[str, int] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self.lock:
            self.gets[key] = self.gets.get(key, 0) + 1
        time.sleep(0.2)
        return super().get(key)


def _backend() -> CountingBackend:
    return CountingBackend.from_uri(f"memory://{uuid.uuid4().hex}")  # type: ignore[return-value]


def test_concurrent_requests_for_one_chunk_make_one_fetch(tmp_path: Path) -> None:
    backend = _backend()
    chunk_id, _ = ChunkStore(backend).put(os.urandom(5000))
    cache = DiskCache(backend, str(tmp_path / "c"), 1 << 20)
    paths: list[str] = []
    threads = [
        threading.Thread(target=lambda: paths.append(cache.path(chunk_id))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(backend.gets.values()) == 1
    assert len(set(paths)) == 1 and Path(paths[0]).read_bytes() == backend.get(
        f"chunks/{chunk_id.hex()[:2]}/{chunk_id.hex()}"
    )
    assert cache.stats()["fetches"] == 1 and cache.stats()["hits"] == 7


def test_least_recently_used_chunks_go_first_and_a_restart_keeps_the_rest(tmp_path: Path) -> None:
    backend = _backend()
    store = ChunkStore(backend)
    ids = [store.put(os.urandom(1000))[0] for _ in range(3)]  # random: stored raw, 1001 bytes
    cache = DiskCache(backend, str(tmp_path / "c"), 2100)
    first, second = cache.path(ids[0]), cache.path(ids[1])
    cache.path(ids[0])  # the first is used again: the second is now the oldest
    third = cache.path(ids[2])
    assert [os.path.exists(p) for p in (first, second, third)] == [True, False, True]
    assert cache.stats()["bytes"] == 2002 and cache.stats()["evictions"] == 1
    assert sum(f.stat().st_size for f in (tmp_path / "c").iterdir()) <= 2100

    again = DiskCache(backend, str(tmp_path / "c"), 2100)  # a restarted actor
    assert again.stats()["chunks"] == 2
    before = sum(backend.gets.values())
    again.path(ids[0])
    again.path(ids[2])
    assert sum(backend.gets.values()) == before  # served from the files it found


def test_cache_size_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYPACHY_CACHE_BYTES", "1048576")
    assert cache_bytes() == 1 << 20
    for bad in ("lots", "-5", "0"):
        monkeypatch.setenv("RAYPACHY_CACHE_BYTES", bad)
        with pytest.raises(InvalidArgumentError, match="RAYPACHY_CACHE_BYTES"):
            cache_bytes()
    monkeypatch.delenv("RAYPACHY_CACHE_BYTES")
    assert cache_bytes() == 2 << 30
    assert is_cached("s3://bucket/prefix")
    assert not is_cached("file:///data") and not is_cached("memory://x")


# --- on a cluster whose storage is SeaweedFS ------------------------------------------------


@pytest.fixture(scope="module")
def s3_cluster(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalCluster, str]]:
    client = s3_server.client()
    bucket = "raypachy-cache"
    if bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=bucket)
    storage = f"s3://{bucket}/{uuid.uuid4().hex[:12]}"
    home = tmp_path_factory.mktemp("s3cluster") / "home"
    cluster = start_cluster(home, {"RAYPACHY_STORAGE": storage})
    try:
        yield cluster, storage
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)


DRIVER = """
import json, os, sys, uuid
import ray
ray.init(address=os.environ["RAY_ADDRESS"], namespace="raypachy", log_to_driver=False,
         logging_level="ERROR")
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from raypachy.runtime.chunkcache import CachedChunkStore, ChunkCacheActor, cache_name
from raypachy.storage import ChunkStore, open_backend
storage = os.environ["STORAGE"]
store = ChunkStore(open_backend(storage))
node = ray.get_runtime_context().get_node_id()

def test_actor(max_bytes):
    return ChunkCacheActor.options(
        name=f"raypachy:chunkcache:test-{uuid.uuid4().hex[:8]}",
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
    ).remote(node, max_bytes, os.environ["ROOT"])
"""


def _drive(cluster: LocalCluster, storage: str, code: str, tmp_path: Path) -> Any:
    """Run ``code`` as a Ray driver of the cluster; it prints one JSON object last."""
    from raypachy.runtime.state import read_state

    state = read_state(str(cluster.home))
    assert state is not None
    env = {**cluster.env, "RAY_ADDRESS": state.gcs_address, "STORAGE": storage,
           "ROOT": str(tmp_path / "caches")}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", DRIVER + code], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.ray
def test_a_hundred_datums_reading_one_input_fetch_each_chunk_once(
    s3_cluster: tuple[LocalCluster, str], tmp_path: Path
) -> None:
    cluster, storage = s3_cluster
    c = cluster.client()
    started = _drive(cluster, storage, """
names = [a for a in ray.util.list_named_actors() if a.startswith("raypachy:chunkcache:")]
alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
print(json.dumps({"names": sorted(names), "wanted": sorted(cache_name(n) for n in alive)}))
""", tmp_path)  # fmt: skip
    assert started["names"] == started["wanted"] and started["names"]  # started by `up`

    c.create_repo("big")
    c.create_repo("many")
    size = 6 << 20
    c.put_file("big@master", "/data.bin", os.urandom(size))
    local = Path(tempfile.mkdtemp(dir=tmp_path))
    for i in range(100):
        (local / f"m{i:03d}").write_bytes(b"%d" % i)
    c.put_dir("many@master", "/", local)
    c.create_pipeline({
        "pipeline": {"name": "readbig"},
        "input": {"cross": [{"pfs": {"repo": "big", "glob": "/"}},
                            {"pfs": {"repo": "many", "glob": "/*"}}]},
        "transform": {"cmd": ["sh", "-c", "wc -c < /pfs/big/data.bin > /pfs/out/$(ls /pfs/many)"]},
        "parallelism_spec": {"constant": 2},
    })  # fmt: skip
    job_id = None
    deadline = time.monotonic() + 120
    while job_id is None and time.monotonic() < deadline:
        job_id = c.inspect_pipeline("readbig").last_job
        time.sleep(0.5)
    assert job_id is not None
    job = c.wait_job("readbig", job_id, timeout=900)
    assert job.state == "success" and job.datums.processed == 100, job
    assert int(c.get_file("readbig@master", "/m042").strip()) == size

    chunks = {ref.chunk for repo in ("big", "many")
              for _, data in c.walk_data(f"{repo}@master") for ref in data.refs}  # fmt: skip
    big_chunks = {ref.chunk for _, data in c.walk_data("big@master") for ref in data.refs}
    assert len(big_chunks) >= 2  # the input spans several chunks
    stats = _drive(cluster, storage, """
actor = ray.get_actor(cache_name(node))
print(json.dumps(ray.get(actor.stats.remote(storage))))
""", tmp_path)  # fmt: skip
    # One node: every chunk the 100 datums read was fetched from SeaweedFS once, by the cache.
    assert stats["fetches"] == len(chunks), (stats, len(chunks))
    assert stats["chunks"] == len(chunks) and stats["evictions"] == 0
    assert len(os.listdir(stats["dir"])) == len(chunks)  # the cached files, on this node's disk

    # Killed, the actor is restarted by Ray and serves the files it finds without a fetch.
    os.kill(stats["pid"], 9)
    ids = json.dumps(sorted(chunk.hex() for chunk in chunks))
    again = _drive(cluster, storage, f"""
actor = ray.get_actor(cache_name(node))
ids = [bytes.fromhex(h) for h in json.loads({ids!r})]
paths = ray.get(actor.paths.remote(storage, ids))
print(json.dumps({{"stats": ray.get(actor.stats.remote(storage)),
                  "exist": all(os.path.exists(p) for p in paths)}}))
""", tmp_path)  # fmt: skip
    assert again["stats"]["pid"] != stats["pid"] and again["exist"]
    assert again["stats"]["fetches"] == 0 and again["stats"]["hits"] == len(chunks)


@pytest.mark.ray
def test_the_cache_evicts_the_least_recently_used_chunk_at_its_bound(
    s3_cluster: tuple[LocalCluster, str], tmp_path: Path
) -> None:
    cluster, storage = s3_cluster
    out = _drive(cluster, storage, """
blobs = [os.urandom(1 << 20) for _ in range(3)]  # random: stored raw, (1 MiB + 1) each
ids = [store.put(b)[0] for b in blobs]
actor = test_actor((2 << 20) + 100)
first, second = ray.get(actor.paths.remote(storage, ids[:2]))
ray.get(actor.paths.remote(storage, [ids[0]]))  # the second is now the least recently used
[third] = ray.get(actor.paths.remote(storage, [ids[2]]))
exists = [os.path.exists(p) for p in (first, second, third)]
on_disk = sum(os.path.getsize(os.path.join(os.path.dirname(first), f))
              for f in os.listdir(os.path.dirname(first)))
before = ray.get(actor.stats.remote(storage))
again = CachedChunkStore(storage, actor).get(ids[1]) == blobs[1]
after = ray.get(actor.stats.remote(storage))
print(json.dumps({"exists": exists, "on_disk": on_disk, "before": before, "after": after,
                  "again": again}))
""", tmp_path)  # fmt: skip
    bound = (2 << 20) + 100
    assert out["exists"] == [True, False, True]
    assert out["on_disk"] <= bound and out["before"]["bytes"] <= bound
    assert out["before"]["evictions"] == 1 and out["before"]["fetches"] == 3
    assert out["again"] is True and out["after"]["fetches"] == 4  # evicted: fetched again


@pytest.mark.ray
def test_a_corrupted_cached_chunk_is_detected_and_fetched_again(
    s3_cluster: tuple[LocalCluster, str], tmp_path: Path
) -> None:
    cluster, storage = s3_cluster
    out = _drive(cluster, storage, """
data = os.urandom(300_000)
chunk_id = store.put(data)[0]
actor = test_actor(1 << 30)
first = CachedChunkStore(storage, actor).get(chunk_id) == data
[path] = ray.get(actor.paths.remote(storage, [chunk_id]))
with open(path, "r+b") as f:  # one flipped byte in the cached copy
    f.seek(1000)
    b = f.read(1)
    f.seek(1000)
    f.write(bytes([b[0] ^ 0xFF]))
second = CachedChunkStore(storage, actor).get(chunk_id) == data  # a fresh process's reader
stats = ray.get(actor.stats.remote(storage))
marked = store.backend.exists("suspect/" + chunk_id.hex())
print(json.dumps({"first": first, "second": second, "stats": stats, "marked": marked}))
""", tmp_path)  # fmt: skip
    assert out["first"] is True and out["second"] is True
    assert out["stats"]["invalidations"] == 1 and out["stats"]["fetches"] == 2
    assert out["marked"] is False  # the stored chunk is fine: nothing flags it as corrupted


@pytest.mark.ray
def test_file_storage_has_no_chunk_cache(local_cluster: LocalCluster, tmp_path: Path) -> None:
    c = local_cluster.client()
    repo, name = f"nocache{uuid.uuid4().hex[:8]}", f"nocachep{uuid.uuid4().hex[:8]}"
    c.create_repo(repo)
    c.create_pipeline({
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": "/*"}},
        "transform": {"cmd": ["sh", "-c", "cp /pfs/*/a.txt /pfs/out/"]},
    })  # fmt: skip
    commit = c.put_file(f"{repo}@master", "/a.txt", b"local bytes")
    c.wait_commit_set(commit.id, timeout=300)
    assert c.get_file(f"{name}@master", "/a.txt") == b"local bytes"
    storage = c.storage_uri
    assert storage.startswith("file://")
    out = _drive(local_cluster, storage, """
names = [a for a in ray.util.list_named_actors() if a.startswith("raypachy:chunkcache:")]
print(json.dumps(names))
""", tmp_path)  # fmt: skip
    assert out == []  # the chunks are local files already: nothing to cache
