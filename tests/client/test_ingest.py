"""Putting files from URLs: a real http.server on 127.0.0.1 and the SeaweedFS server, through
``Pachd`` (direct writes) and ``Client`` both with and without a direct data plane."""

from __future__ import annotations

import http.server
import io
import secrets
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raypachy import errors
from raypachy.client import Client
from raypachy.client.ingest import S3_ENDPOINT_ENV, put_urls, read_url_list
from raypachy.pachd import Pachd
from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.serving import serve

FILES = {"/x.csv": b"a,b\n1,2\n", "/big.bin": bytes(range(256)) * 20000}


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    _Handler.files = {**FILES, "/data.tar.gz": _tar({"a/1.txt": b"one", "./b.txt": b"two"}),
                      "/evil.tar": _tar({"../../etc/x": b"no"})}  # fmt: skip
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(params=["pachd", "client", "upload"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """``pachd``: in process; ``client``: over HTTP, writing storage directly; ``upload``: a
    client that cannot reach the storage, so the bytes go through the upload route."""
    pachd = Pachd.open(str(tmp_path / "home"))
    pachd.create_repo("raw")
    if request.param == "pachd":
        yield pachd
        return
    token = secrets.token_hex(16)
    monkeypatch.setenv("RAYPACHY_DATA_PLANE", "direct" if request.param == "client" else "api")
    app = create_app(LocalService(pachd), pachd.pfs.backend.uri, token_hash(token))
    with serve(app) as url, Client(url, token=token) as client:
        assert client.direct_storage is (request.param == "client")
        yield client


def _commits(api: Any) -> list[Any]:
    try:
        return list(api.list_commits("raw", "master"))
    except errors.BranchNotFoundError:
        return []


def test_http_files_into_one_commit(api: Any, web: str) -> None:
    commit = put_urls(api, "raw@master", "/in", [f"{web}/x.csv", f"{web}/big.bin"])
    assert api.get_file("raw@master", "/in/x.csv") == FILES["/x.csv"]
    assert api.get_file("raw@master", "/in/big.bin") == FILES["/big.bin"]
    assert [c.id for c in _commits(api)] == [commit.id]


def test_one_url_goes_at_the_path_or_under_its_name(api: Any, web: str) -> None:
    put_urls(api, "raw@master", "/renamed.csv", [f"{web}/x.csv"])
    put_urls(api, "raw@master", "/", [f"{web}/x.csv"])
    assert [f.path for f in api.list_files("raw@master", "/")] == ["/renamed.csv", "/x.csv"]


def test_a_failing_url_commits_nothing(api: Any, web: str) -> None:
    with pytest.raises(errors.IngestError) as e:
        put_urls(api, "raw@master", "/in", [f"{web}/x.csv", f"{web}/missing.csv"])
    assert str(e.value) == f"cannot read {web}/missing.csv: HTTP 404 Not Found"
    assert _commits(api) == []
    with pytest.raises(
        errors.IngestError, match=r"cannot read http://127\.0\.0\.1:9/x: ConnectError"
    ):
        put_urls(api, "raw@master", "/in", ["http://127.0.0.1:9/x"])
    with pytest.raises(errors.IngestError, match="not an http"):
        put_urls(api, "raw@master", "/in", ["ftp://host/x"])
    assert _commits(api) == []


def test_untar(api: Any, web: str) -> None:
    put_urls(api, "raw@master", "/unpacked", [f"{web}/data.tar.gz"], untar=True)
    assert api.get_file("raw@master", "/unpacked/a/1.txt") == b"one"
    assert api.get_file("raw@master", "/unpacked/b.txt") == b"two"
    with pytest.raises(errors.IngestError, match="leaves the directory"):
        put_urls(api, "raw@master", "/evil", [f"{web}/evil.tar"], untar=True)
    with pytest.raises(errors.IngestError, match="not a tar archive"):
        put_urls(api, "raw@master", "/bad", [f"{web}/x.csv"], untar=True)
    assert len(_commits(api)) == 1


def test_credentials_in_a_url_are_never_shown(api: Any) -> None:
    with pytest.raises(errors.IngestError) as e:
        put_urls(api, "raw@master", "/", ["http://user:hunter22@127.0.0.1:9/x"])
    assert "hunter22" not in str(e.value) and "127.0.0.1:9/x" in str(e.value)
    signed = "http://127.0.0.1:9/x?X-Amz-Signature=abcdef123456&X-Amz-Credential=AKIAEXAMPLE"
    with pytest.raises(errors.IngestError) as e:
        put_urls(api, "raw@master", "/", [signed])
    assert str(e.value).startswith("cannot read http://127.0.0.1:9/x?...: ")
    assert "abcdef123456" not in str(e.value) and "AKIA" not in str(e.value)


def test_url_list_skips_blanks_and_comments() -> None:
    assert read_url_list("# mine\nhttps://a/x\n\n  s3://b/k  \n") == ["https://a/x", "s3://b/k"]


@pytest.fixture
def bucket(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(S3_ENDPOINT_ENV, s3_server.endpoint)
    name = "ingest-" + uuid.uuid4().hex[:8]
    s3 = s3_server.client()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="logs/2024/a.log", Body=b"first")
    s3.put_object(Bucket=name, Key="logs/2024/b.log", Body=b"second")
    s3.put_object(Bucket=name, Key="logs/c.log", Body=b"third")
    s3.put_object(Bucket=name, Key="other.txt", Body=b"other")
    return name


def test_s3_object_and_prefix(api: Any, bucket: str) -> None:
    put_urls(api, "raw@master", "/one.txt", [f"s3://{bucket}/other.txt"])
    put_urls(api, "raw@master", "/logs", [f"s3://{bucket}/logs"], recursive=True)
    assert api.get_file("raw@master", "/one.txt") == b"other"
    got = {f.path: api.get_file("raw@master", f.path)
           for f in api.glob_files("raw@master", "/logs/**") if f.type == "file"}  # fmt: skip
    assert got == {"/logs/2024/a.log": b"first", "/logs/2024/b.log": b"second",
                   "/logs/c.log": b"third"}  # fmt: skip


def test_s3_failures_commit_nothing(api: Any, bucket: str) -> None:
    with pytest.raises(errors.IngestError, match=f"cannot read s3://{bucket}/nope.txt: NoSuchKey"):
        put_urls(api, "raw@master", "/", [f"s3://{bucket}/other.txt", f"s3://{bucket}/nope.txt"])
    with pytest.raises(errors.IngestError, match="no objects under this prefix"):
        put_urls(api, "raw@master", "/", [f"s3://{bucket}/empty/"], recursive=True)
    with pytest.raises(errors.IngestError, match="NoSuchBucket"):
        put_urls(api, "raw@master", "/", [f"s3://no-such-{bucket}/x"])
    assert _commits(api) == []
