"""Pachyderm's S3 sidecar: ``input.pfs.s3`` and ``s3_out`` pipelines whose datums read their
input bucket and write bucket ``out`` through ``S3_ENDPOINT`` (real clients, real server)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from raypachy.errors import InvalidSpecError
from raypachy.pps.spec import read_specs
from raypachy.server.s3.sidecar import datum_sidecar
from tests.pps.conftest import Local, needs_sandbox

# The published specs sit in shared/ beside the checkout (found upwards from here).
SPECS = next(
    (p / "shared" / "pachyderm-specs" for p in Path(__file__).parents
     if (p / "shared" / "pachyderm-specs").is_dir()),
    Path(__file__).parents[3] / "shared" / "pachyderm-specs",
)  # fmt: skip

# The published kubeflow-mnist pattern: list the input bucket, copy what it holds to `out`.
BOTO_SCRIPT = textwrap.dedent(
    """
    import io, os, boto3
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
    assert not os.path.exists("/pfs/input"), "an S3 input is not copied under /pfs"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["input", "out"], names
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="input")
            for o in p.get("Contents", [])]
    for key in keys:
        s3.copy_object(Bucket="out", Key="copied/" + key, CopySource={"Bucket": "input", "Key": key})
    body = s3.get_object(Bucket="input", Key="data/a.csv", Range="bytes=0-1")["Body"].read()
    s3.put_object(Bucket="out", Key="summary.txt", Body=b"%d keys, starts %s" % (len(keys), body))
    s3.upload_fileobj(io.BytesIO(b"z" * (9 << 20)), "out", "big/z.bin")  # a multipart upload
    try:
        s3.put_object(Bucket="input", Key="nope", Body=b"x")
    except Exception as e:
        assert "MethodNotAllowed" in str(e), e
    else:
        raise SystemExit("the input bucket took a write")
    """
)


def s3_spec(name: str, cmd: list[str], glob: str = "/") -> dict[str, object]:
    return {
        "pipeline": {"name": name},
        "transform": {"cmd": cmd},
        "s3_out": True,
        "input": {"pfs": {"name": "input", "repo": "images", "glob": glob, "s3": True}},
    }


def test_the_published_kubeflow_mnist_spec_is_accepted(local: Local) -> None:
    (spec,) = read_specs((SPECS / "kubeflow-mnist-pipeline.yaml").read_text())
    assert spec.s3_out is True
    leaf = spec.input.leaves()[0]
    assert getattr(leaf, "s3", False) is True and leaf.input_name == "input"  # type: ignore[union-attr]
    local.pfs.create_repo("input-repo")
    local.create(spec.to_json())
    assert local.pps.inspect_pipeline("mnist").name == "mnist"


def test_an_s3_input_must_be_one_datum(local: Local) -> None:
    with pytest.raises(InvalidSpecError) as e:
        read_specs(json.dumps(s3_spec("p", ["true"], glob="/*")))
    assert "set its glob to '/'" in str(e.value) and "\n" not in str(e.value)


@needs_sandbox
def test_datum_lists_and_copies_through_s3_endpoint_with_boto3(local: Local) -> None:
    local.sidecar = datum_sidecar
    local.pfs.create_repo("images")
    local.put(
        "images",
        {"/data/a.csv": b"a,b\n1,2\n", "/data/b.csv": b"x\n", "/c.bin": os.urandom(3 << 20)},
    )
    local.create(s3_spec("copier", ["python3", "-c", BOTO_SCRIPT]))
    (job,) = local.run()
    assert job.state == "success", job
    out = local.files("copier")
    src = local.files("images")
    assert {p: out[f"/copied{p}"] for p in src} == src
    assert out["/summary.txt"] == b"3 keys, starts a,"
    assert out["/big/z.bin"] == b"z" * (9 << 20)
    assert sorted(out) == sorted([f"/copied{p}" for p in src] + ["/summary.txt", "/big/z.bin"])


@needs_sandbox
@pytest.mark.slow
def test_datum_copies_with_the_aws_cli(local: Local) -> None:
    local.sidecar = datum_sidecar
    local.pfs.create_repo("images")
    big = os.urandom(10 << 20)  # above the CLI's 8 MiB threshold: a multipart copy
    local.put("images", {"/small.txt": b"hi", "/dir/big.bin": big})
    script = ('aws --endpoint-url "$S3_ENDPOINT" s3 ls s3://input/ --recursive && '
              'aws --endpoint-url "$S3_ENDPOINT" s3 cp --recursive s3://input/ s3://out/')  # fmt: skip
    local.create(s3_spec("cli", ["bash", "-c", script]))
    (job,) = local.run()
    assert job.state == "success", job
    assert local.files("cli") == {"/small.txt": b"hi", "/dir/big.bin": big}


def test_without_a_sidecar_the_datums_fail_saying_why(local: Local) -> None:
    local.pfs.create_repo("images")
    local.put("images", {"/a": b"a"})
    local.create(s3_spec("nosidecar", ["true"]))
    (job,) = local.run()
    assert job.state == "failure"
    datums = local.pachd.list_datums("nosidecar", None)
    assert datums and all("S3 sidecar" in (d.error or "") for d in datums)
