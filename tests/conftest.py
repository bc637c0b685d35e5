from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server, start_s3_server

# Tests never talk to a real cloud: pin the AWS settings before anything reads them.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"))
    saved = {k: os.environ.get(k) for k in ("RAYPACHY_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY")}  # fmt: skip
    os.environ["RAYPACHY_S3_ENDPOINT"] = server.endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


S3_BUCKET = "raypachy-test"


@pytest.fixture
def s3_uri(s3_server: S3Server) -> str:
    """A fresh prefix in the one test bucket (SeaweedFS gives each bucket its own volumes)."""
    client = s3_server.client()
    if S3_BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=S3_BUCKET)
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", "file", "s3"])
def storage_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One storage URI per backend kind: the shared conformance parameter."""
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if request.param == "file":
        return f"file://{tmp_path / 'storage'}"
    return str(request.getfixturevalue("s3_uri"))


@pytest.fixture
def pfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    from raypachy.pfs import PFS

    return PFS.open(str(tmp_path / "home"))
