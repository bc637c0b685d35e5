"""pandas, pyarrow and DuckDB reading and writing raypachy:// as they would any filesystem."""

from __future__ import annotations

import io
from collections.abc import Iterator

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FSSpecHandler, PyFileSystem

from raypachy.client import Client
from raypachy.fs import RaypachyFileSystem
from tests.fs.conftest import Api

IRIS = "sepal_length,species\n5.1,setosa\n7.0,versicolor\n6.3,virginica\n"


@pytest.fixture
def by_url(api_server: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``raypachy://`` URLs with no storage options: the filesystem finds the API itself."""
    monkeypatch.setenv("RAYPACHY_ADDRESS", api_server.url)
    RaypachyFileSystem.clear_instance_cache()
    yield
    for made in list(RaypachyFileSystem._cache.values()):
        made.client.close()  # instances made from URLs own their clients
    RaypachyFileSystem.clear_instance_cache()


@pytest.fixture
def sales(client: Client, repo: str) -> str:
    """A repo with two Parquet files of a partitioned table."""
    for year, rows in (("2023", [1, 2, 3]), ("2024", [4, 5])):
        table = pa.table({"amount": rows, "region": ["eu"] * len(rows)})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        client.put_file(f"{repo}@master", f"/sales/year={year}/part-0.parquet", sink.getvalue())
    return repo


@pytest.mark.usefixtures("by_url", "data_plane")
def test_pandas_reads_and_writes_urls(client: Client, repo: str) -> None:
    client.put_file(f"{repo}@master", "/raw/iris-1.csv", IRIS.encode())
    df = pd.read_csv(f"raypachy://{repo}@master/raw/iris-1.csv")
    assert list(df["species"]) == ["setosa", "versicolor", "virginica"]
    df["big"] = df["sepal_length"] > 6
    df.to_parquet(f"raypachy://{repo}@master/out/iris.parquet")
    back = pd.read_parquet(f"raypachy://{repo}@master/out/iris.parquet")
    assert list(back["big"]) == [False, True, True]
    commit = client.inspect_commit(f"{repo}@master").id
    df.to_csv(f"raypachy://{repo}@master/raw/iris-1.csv", index=False)  # a new version
    old = pd.read_csv(f"raypachy://{repo}@{commit}/raw/iris-1.csv")
    assert "big" not in old.columns and "big" in pd.read_csv(
        f"raypachy://{repo}@master/raw/iris-1.csv"
    )


@pytest.mark.usefixtures("data_plane")
def test_pyarrow_reads_through_fsspec_and_pyfilesystem(fs: RaypachyFileSystem, sales: str) -> None:
    path = f"{sales}@master/sales/year=2023/part-0.parquet"
    assert pq.read_table(path, filesystem=fs)["amount"].to_pylist() == [1, 2, 3]
    wrapped = PyFileSystem(FSSpecHandler(fs))
    assert pq.read_table(path, filesystem=wrapped).num_rows == 3
    dataset = pads.dataset(f"{sales}@master/sales", filesystem=wrapped, partitioning="hive")
    table = dataset.to_table().sort_by("amount")
    assert table["amount"].to_pylist() == [1, 2, 3, 4, 5]
    assert table["year"].to_pylist() == [2023, 2023, 2023, 2024, 2024]
    assert pq.read_table(f"{sales}@master/sales/", filesystem=fs).num_rows == 5


def test_pyarrow_writes_a_dataset_in_one_transaction(
    fs: RaypachyFileSystem, repo: str, client: Client
) -> None:
    table = pa.table({"k": list(range(100)), "g": [i % 3 for i in range(100)]})
    with fs.transaction:
        pq.write_to_dataset(table, f"{repo}@master/table", filesystem=fs, partition_cols=["g"])
    assert len(client.list_commits(repo, "master")) == 1
    back = pq.read_table(f"{repo}@master/table", filesystem=fs)
    assert sorted(back["k"].to_pylist()) == list(range(100))


@pytest.mark.usefixtures("data_plane")
def test_duckdb_queries_raypachy_urls(fs: RaypachyFileSystem, sales: str, client: Client) -> None:
    client.put_file(f"{sales}@master", "/raw/iris-1.csv", IRIS.encode())
    client.put_file(f"{sales}@master", "/raw/iris-2.csv", b"sepal_length,species\n4.9,setosa\n")
    con = duckdb.connect()
    con.register_filesystem(fs)
    try:
        n, total = con.execute(
            f"SELECT count(*), sum(amount) FROM read_parquet('raypachy://{sales}@master/sales/*/*.parquet')"
        ).fetchone()  # type: ignore[misc]
        assert (n, total) == (5, 15)
        rows = con.execute(
            f"SELECT species, count(*) FROM read_csv('raypachy://{sales}@master/raw/*.csv') "
            "GROUP BY species ORDER BY species"
        ).fetchall()
        assert rows == [("setosa", 2), ("versicolor", 1), ("virginica", 1)]
    finally:
        con.close()
