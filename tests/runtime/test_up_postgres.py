"""``raypachy up --metadata postgresql://...``: a whole local cluster (Ray head, control
plane, pipeline workers) keeping its metadata in a real PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import raypachy
from raypachy.pfs.metadata import open_store
from tests.conftest import LocalCluster, free_port
from tests.pg_server import PgServer

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def shout(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / f.name).write_text(f.read_text().upper())


def test_a_cluster_with_postgres_metadata_runs_a_pipeline(
    tmp_path: Path, pg_server: PgServer, pg_url: str, pg_stores: list
) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "RAYPACHY_HOME": str(home), "RAYPACHY_API_PORT": str(port),
           "RAYPACHY_S3_PORT": str(free_port())}  # fmt: skip
    env.pop("RAYPACHY_ADDRESS", None)
    env.pop("RAYPACHY_METADATA", None)  # the flag alone says where the metadata goes
    cluster = LocalCluster(home, env, f"http://127.0.0.1:{port}", "")
    cluster.cli("up", "--num-cpus", "2", "--metadata", pg_url, timeout=240)
    try:
        client = cluster.client()
        client.create_repo("words")
        client.put_file("words@master", "/a", b"hello")
        client.create_pipeline(
            raypachy.pipeline(shout, input=raypachy.pfs("words", glob="/*"), name="shout")
        )
        change = client.put_file("words@master", "/b", b"world")
        done = client.wait_commit_set(change.id, timeout=300)
        assert {c.repo for c in done} == {"words", "shout"}
        assert client.get_file("shout@master", "/b") == b"WORLD"
        [job] = client.list_jobs("shout", job_id=change.id)
        assert job.state == "success"
        store = open_store(pg_url)  # what the control plane wrote is in PostgreSQL
        with store.read() as tx:
            assert [r.name for r in tx.repos()] == ["shout", "words"]
            stored = tx.job("shout", job.id)
            assert stored is not None and stored.state == "success"
        assert not (home / "metadata.db").exists()
        assert pg_server.password not in cluster.cli("status").stdout.decode()
    finally:
        cluster.close_clients()
        cluster.cli("down", timeout=120)
