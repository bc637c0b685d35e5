"""Egress: after each successful job the output commit goes to a directory, S3 or PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

import raypachy
from raypachy.errors import InvalidSpecError
from raypachy.pps.spec import parse_spec, read_specs
from tests.pps.conftest import Local, needs_sandbox
from tests.pps.test_s3_pipelines import SPECS


@raypachy.pipeline(input=raypachy.pfs("src", glob="/*"), name="copy")
def copy(datum):  # type: ignore[no-untyped-def]
    """Copy each file, and write its lines as rows of table ``items``."""
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / "files").mkdir(exist_ok=True)
            (datum.out / "files" / f.name).write_bytes(f.read_bytes())


@raypachy.pipeline(input=raypachy.pfs("src", glob="/*"), name="rows")
def rows(datum):  # type: ignore[no-untyped-def]
    """Each input file holds the lines of table ``items``: copied to ``/items/<name>``."""
    for f in datum.input().rglob("*"):
        if f.is_file():
            (datum.out / "items").mkdir(exist_ok=True)
            (datum.out / "items" / f.name).write_bytes(f.read_bytes())


def _create(local: Local, pipe: Any, egress: dict[str, Any]) -> None:
    local.create(pipe.options(egress=egress))  # the decorator's option, as a spec's field


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_file_egress_mirrors_each_commit(local: Local, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    local.pfs.create_repo("src")
    local.put("src", {"/a": b"1", "/b": b"2", "/c": b"3"})
    _create(local, copy, {"URL": f"file://{dest}"})
    [job] = local.run()
    assert job.state == "success", job.reason
    assert _files(dest) == {"files/a": b"1", "files/b": b"2", "files/c": b"3"}
    egress = local.pps.inspect_job("copy", job.id).egress
    assert egress is not None
    assert (egress["state"], egress["written"], egress["deleted"]) == ("success", 3, 0)
    (dest / "files" / "stray").write_bytes(b"not ours")  # kept: only what we wrote is diffed

    local.put("src", {"/b": b"two", "/d": b"4"}, delete=["/c"])
    [job2] = local.run()
    assert job2.state == "success", job2.reason
    assert _files(dest) == {"files/a": b"1", "files/b": b"two", "files/d": b"4",
                            "files/stray": b"not ours"}  # fmt: skip
    egress2 = local.pps.inspect_job("copy", job2.id).egress
    assert egress2 is not None and (egress2["written"], egress2["deleted"]) == (2, 1)
    assert not [p for p in dest.rglob("*") if "raypachy-egress" in p.name]


def test_s3_egress_mirrors_to_a_bucket(local: Local, s3_server: Any) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=os.environ["RAYPACHY_S3_ENDPOINT"], region_name="us-east-1"
    )
    bucket = "egress-" + uuid.uuid4().hex[:8]  # the server is the session's
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="run/files/old", Body=b"stale")  # a full mirror deletes it
    local.pfs.create_repo("src")
    local.put("src", {"/a": b"1", "/b": b"2"})
    _create(local, copy, {"URL": f"s3://{bucket}/run"})
    [job] = local.run()
    assert job.state == "success", job.reason

    def objects() -> dict[str, bytes]:
        listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                for o in listing}  # fmt: skip

    assert objects() == {"run/files/a": b"1", "run/files/b": b"2"}
    local.put("src", {"/a": b"one"}, delete=["/b"])
    [job2] = local.run()
    assert job2.state == "success", job2.reason
    assert objects() == {"run/files/a": b"one"}


def test_a_missing_bucket_fails_the_job_with_the_reason(local: Local, s3_server: Any) -> None:
    local.pfs.create_repo("src")
    local.put("src", {"/a": b"1"})
    _create(local, copy, {"URL": "s3://no-such-bucket-here/x"})
    [job] = local.run()
    assert job.state == "failure"
    assert "egress to s3://no-such-bucket-here/x failed" in job.reason
    assert "NoSuchBucket" in job.reason and "\n" not in job.reason
    egress = local.pps.inspect_job("copy", job.id).egress
    assert egress is not None and egress["state"] == "failure"


def _secret(local: Local, pg_url: str) -> str:
    """The database password as a raypachy secret; the URL without it."""
    password = psycopg.conninfo.conninfo_to_dict(pg_url)["password"]
    assert local.pps.secrets is not None
    local.pps.secrets.create({"metadata": {"name": "db"}, "stringData": {"pw": password}})
    return pg_url.replace(f":{password}@", "@")


def _table(pg_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT id, name FROM items ORDER BY id").fetchall()


def test_sql_egress_truncates_and_loads_each_table(local: Local, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE items (id integer PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items VALUES (99, 'old')")
    url = _secret(local, pg_url)
    local.pfs.create_repo("src")
    local.put("src", {"/p1.csv": b"1,apple\n2,\n", "/p2.csv": b"3,cherry\n"})
    _create(local, rows, {"sql_database": {
        "url": url, "file_format": {"type": "CSV", "columns": ["id", "name"]},
        "secret": {"name": "db", "key": "pw"}}})  # fmt: skip
    [job] = local.run()
    assert job.state == "success", job.reason
    assert _table(pg_url) == [(1, "apple"), (2, None), (3, "cherry")]
    egress = local.pps.inspect_job("rows", job.id).egress
    assert egress is not None and egress["written"] == 3 and "***" not in json.dumps(egress)

    # A bad file: the job fails, and the table keeps its rows (one transaction).
    local.put("src", {"/p3.csv": b"4,date,extra\n"}, delete=["/p1.csv"])
    [bad] = local.run()
    assert bad.state == "failure"
    assert "/items/p3.csv row 1 has 3 fields, not 2" in bad.reason
    assert _table(pg_url) == [(1, "apple"), (2, None), (3, "cherry")]


def test_sql_egress_json_lines(local: Local, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE items (id integer, name text)")
    url = _secret(local, pg_url)
    local.pfs.create_repo("src")
    local.put("src", {"/a.json": b'{"id": 1, "name": "x", "more": 0}\n{"id": 2}\n'})
    _create(local, rows, {"sql_database": {
        "url": url, "file_format": {"type": "JSON", "columns": ["id", "name"]},
        "secret": {"name": "db", "key": "pw"}}})  # fmt: skip
    [job] = local.run()
    assert job.state == "success", job.reason
    assert _table(pg_url) == [(1, "x"), (2, None)]


def test_a_wrong_password_fails_the_job_without_showing_it(local: Local, pg_url: str) -> None:
    password = psycopg.conninfo.conninfo_to_dict(pg_url)["password"]
    assert local.pps.secrets is not None
    local.pps.secrets.create({"metadata": {"name": "db"}, "stringData": {"pw": "wrong-pass"}})
    local.pfs.create_repo("src")
    local.put("src", {"/a.csv": b"1,x\n"})
    _create(local, rows, {"sql_database": {
        "url": pg_url.replace(f":{password}@", "@"), "file_format": {"columns": ["id", "name"]},
        "secret": {"name": "db", "key": "pw"}}})  # fmt: skip
    [job] = local.run()
    assert job.state == "failure" and "password authentication failed" in job.reason
    assert "wrong-pass" not in job.reason


def test_published_churn_and_snowflake_specs(local: Local) -> None:
    [churn] = read_specs((SPECS / "churn-churn.pipeline.json").read_text())
    assert churn.egress is not None and churn.egress.sql_database is not None
    assert local.pps.secrets is not None
    local.pps.secrets.create({"metadata": {"name": "snowflakesecret"},
                              "stringData": {"PACHYDERM_SQL_PASSWORD": "pw"}})  # fmt: skip
    local.pfs.create_repo("customer")
    local.create(churn.to_json())
    assert local.pps.inspect_pipeline("churn").name == "churn"


@needs_sandbox
def test_snowflake_egress_is_a_clear_job_error(local: Local) -> None:
    [spec] = read_specs((SPECS / "snowflake-predict.json").read_text())
    data = spec.to_json()
    data["transform"]["cmd"] = ["sh", "-c", "mkdir -p /pfs/out/predictions && "
                                "echo a,0.5 > /pfs/out/predictions/p.csv"]  # fmt: skip
    assert local.pps.secrets is not None
    local.pps.secrets.create({"metadata": {"name": "snowflakesecret"},
                              "stringData": {"PACHYDERM_SQL_PASSWORD": "pw"}})  # fmt: skip
    for repo in ("feature-engineering-pred", "model"):
        local.pfs.create_repo(repo)
        local.put(repo, {"/x": b"1"})
    local.create(data)
    jobs = local.run()
    assert jobs[-1].state == "failure"
    assert "egress to snowflake:// databases does not run here: only postgresql://" in (
        jobs[-1].reason
    )


def test_bad_egress_specs_are_refused_in_one_line() -> None:
    base = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r"}},
            "transform": {"cmd": ["true"]}}  # fmt: skip
    for egress, message in (
        ({"URL": "ftp://host/x"}, "use s3://bucket/prefix or file:///dir"),
        ({}, "egress needs exactly one of URL, object_storage or sql_database"),
        ({"URL": "s3://b/x", "sql_database": {"url": "postgresql://h/d"}}, "exactly one"),
        ({"sql_database": {"url": "postgresql://h/d", "file_format": {"type": "XML"}}}, "CSV"),
        ({"sql_database": {"url": "nowhere"}}, "is not a URL"),
    ):
        with pytest.raises(InvalidSpecError, match=message) as e:
            parse_spec({**base, "egress": egress})
        assert "\n" not in str(e.value)
