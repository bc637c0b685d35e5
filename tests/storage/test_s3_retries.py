"""An S3 endpoint that answers 5xx for a while (a restarting server) costs a pause, not an error.

The endpoint is a small HTTP server on 127.0.0.1 that answers ``InternalError`` to its first
requests, as SeaweedFS does while its volumes register after a restart, and then serves
one object; botocore's own retries (4 attempts) are used up before it recovers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raypachy.errors import BackendError, ObjectMissingError
from raypachy.storage.s3 import S3Backend

INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error</Message></Error>"
)


class _Flaky(ThreadingHTTPServer):
    failures_left = 0
    requests = 0
    stored: dict[str, bytes]


class _Handler(BaseHTTPRequestHandler):
    server: _Flaky

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, etag: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", '"0123456789abcdef0123456789abcdef"')
        self.end_headers()
        self.wfile.write(body)

    def _failing(self) -> bool:
        self.server.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        if self.server.failures_left > 0:
            self.server.failures_left -= 1
            self._answer(500, INTERNAL_ERROR)
            return True
        return False

    def do_GET(self) -> None:
        if self._failing():
            return
        body = self.server.stored.get(self.path.split("?")[0])
        if body is None:
            self._answer(404, b"<Error><Code>NoSuchKey</Code><Message>no</Message></Error>")
        else:
            self._answer(200, body)

    def do_PUT(self) -> None:
        if self._failing():
            return
        self.server.stored[self.path.split("?")[0]] = self._body
        self._answer(200, b"", etag=True)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Flaky]:
    server = _Flaky(("127.0.0.1", 0), _Handler)
    server.stored = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RAYPACHY_S3_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_internal_errors_of_a_recovering_server_are_retried(
    flaky: _Flaky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_S3_OUTAGE_S", "60")
    backend = S3Backend("bucket", "prefix")
    flaky.stored["/bucket/prefix/manifests/m1"] = b"manifest bytes"
    flaky.failures_left = 6  # more than botocore's own 4 attempts
    assert backend.get("manifests/m1") == b"manifest bytes"
    assert flaky.requests == 7
    flaky.failures_left = 6
    backend.put("chunks/ab/abc", b"chunk")
    assert flaky.stored["/bucket/prefix/chunks/ab/abc"] == b"chunk"


def test_a_server_that_keeps_failing_gives_a_clear_error_after_the_budget(
    flaky: _Flaky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPACHY_S3_OUTAGE_S", "2")
    backend = S3Backend("bucket", "prefix")
    flaky.failures_left = 10**6
    started = time.monotonic()
    with pytest.raises(BackendError) as failure:
        backend.get("manifests/m1")
    assert time.monotonic() - started >= 2
    message = failure.value.message
    assert message == (
        "cannot read s3://bucket/prefix/manifests/m1: InternalError: We encountered an internal error"
    )
    assert "test-secret" not in message


def test_a_missing_object_is_not_retried(flaky: _Flaky, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYPACHY_S3_OUTAGE_S", "60")
    backend = S3Backend("bucket", "prefix")
    started = time.monotonic()
    with pytest.raises(ObjectMissingError, match="is missing"):
        backend.get("manifests/none")
    assert flaky.requests == 1 and time.monotonic() - started < 30
