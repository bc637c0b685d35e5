"""The S3 gateway the local cluster serves beside its API, and an S3 sidecar pipeline on Ray."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray


def _s3(c: LocalCluster) -> Any:
    token_file = c.home / "token"
    if token_file.exists():  # the home's API token: the access key id and the secret
        token = token_file.read_text().strip()
        return boto3.client("s3", endpoint_url=c.s3_url, region_name="us-east-1",
                            aws_access_key_id=token, aws_secret_access_key=token)  # fmt: skip
    return boto3.client("s3", endpoint_url=c.s3_url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED))  # fmt: skip


def test_status_names_the_gateway_and_it_serves_the_repos(local_cluster: LocalCluster) -> None:
    c = local_cluster
    status = json.loads(c.cli("status", "-o", "json").stdout)
    assert status["s3_gateway"] == c.s3_url and status["running"] is True
    repo = f"s3repo{uuid.uuid4().hex[:8]}"
    c.cli("create", "repo", repo)
    c.cli("put", "file", f"{repo}@master:/data/a.txt", "-f", "-", stdin=b"from the cli")
    s3 = _s3(c)
    assert f"master.{repo}" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert (
        s3.get_object(Bucket=f"master.{repo}", Key="data/a.txt")["Body"].read() == b"from the cli"
    )
    s3.create_bucket(Bucket=f"dev.{repo}")
    s3.put_object(Bucket=f"dev.{repo}", Key="b.txt", Body=b"from s3")
    assert c.cli("get", "file", f"{repo}@dev:/b.txt").stdout == b"from s3"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=f"dev.{repo}")["Contents"]]
    assert keys == ["b.txt"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=f"master.{repo}", Key="nope")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"


def test_kubeflow_pattern_runs_on_ray_through_the_sidecar(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    repo, name = f"mnistin{uuid.uuid4().hex[:8]}", f"mnist{uuid.uuid4().hex[:8]}"
    c.cli("create", "repo", repo)
    c.cli("put", "file", f"{repo}@master:/train/x.csv", "-f", "-", stdin=b"1,2,3\n")
    script = ('aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://input/ > /tmp/listing && '
              'aws --endpoint-url "$S3_ENDPOINT" s3 cp /tmp/listing s3://out/listing.txt && '
              'aws --endpoint-url "$S3_ENDPOINT" s3 cp --recursive s3://input/train s3://out/model')  # fmt: skip
    spec = {
        "pipeline": {"name": name},
        "transform": {"cmd": ["bash", "-c", script]},
        "s3_out": True,
        "input": {"pfs": {"name": "input", "repo": repo, "glob": "/", "s3": True}},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    c.cli("create", "pipeline", "-f", str(tmp_path / "spec.json"))
    c.cli("put", "file", f"{repo}@master:/train/y.csv", "-f", "-", stdin=b"4,5,6\n")
    commit = json.loads(c.cli("inspect", "commit", f"{repo}@master", "-o", "json").stdout)["id"]
    c.cli("wait", "commit", commit, timeout=300)
    jobs = json.loads(c.cli("list", "job", commit, "-o", "json").stdout)
    assert {j["pipeline"]: j["state"] for j in jobs} == {name: "success"}
    assert c.cli("get", "file", f"{name}@master:/model/x.csv").stdout == b"1,2,3\n"
    assert c.cli("get", "file", f"{name}@master:/model/y.csv").stdout == b"4,5,6\n"
    listing = c.cli("get", "file", f"{name}@master:/listing.txt").stdout.decode()
    assert "train/x.csv" in listing and "train/y.csv" in listing
