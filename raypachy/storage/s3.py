"""``s3://bucket/prefix``: keys are objects under a prefix, through boto3.

The endpoint comes from ``RAYPACHY_S3_ENDPOINT`` (for MinIO, SeaweedFS, R2...) or the usual
AWS configuration; credentials come the usual AWS way (env, profile, instance role).
A single PUT is atomic on S3, so ``put`` needs no temporary object.

An unreachable endpoint, and the answers botocore's standard retry mode calls transient or
throttled (HTTP 429/500/502/503/504, ``SlowDown``...), are retried for ``RAYPACHY_S3_OUTAGE_S``
seconds (default 60) before an operation fails: a restarting S3 server, which refuses
connections and then answers ``InternalError`` for a while, costs a pause, not a failed commit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from raypachy.errors import BackendError, InvalidArgumentError, ObjectMissingError
from raypachy.storage.backend import check_key

_MISSING = {"404", "NoSuchKey", "NotFound"}
# botocore's standard retry mode: transient status codes and error codes, throttling codes.
_RETRY_STATUS = {429, 500, 502, 503, 504}
_RETRY_CODES = {
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "Throttling",
    "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "RequestThrottled", "SlowDown", "InternalError", "ServiceUnavailable",
}  # fmt: skip
_T = TypeVar("_T")


def outage_budget_s() -> float:
    return float(os.environ.get("RAYPACHY_S3_OUTAGE_S", "60"))


def _transient(e: ClientError) -> bool:
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in _RETRY_STATUS or e.response.get("Error", {}).get("Code") in _RETRY_CODES


def _describe(e: Exception) -> str:
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".rstrip(": ")
    # Never echo credentials: botocore messages name endpoints and keys, not secrets.
    if isinstance(e, _Unreachable):
        return str(e)
    return type(e).__name__ + (f": {e}" if str(e) else "")


class _Unreachable(BotoCoreError):
    """The endpoint stayed unreachable for the whole outage budget."""

    fmt = "{error} (unreachable for {seconds:g}s; check RAYPACHY_S3_ENDPOINT and the server)"

    def __init__(self, error: Exception, seconds: float) -> None:
        super().__init__(error=f"{type(error).__name__}: {error}", seconds=seconds)


class S3Backend:
    """Objects in ``bucket`` under ``prefix``; retries transient errors (botocore standard)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        if not bucket:
            raise InvalidArgumentError("an s3:// storage URI needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        endpoint_url = endpoint_url or os.environ.get("RAYPACHY_S3_ENDPOINT") or None
        self.outage_s = outage_budget_s()
        config = Config(
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=32,
            connect_timeout=5,
            read_timeout=60,
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self._s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            config=config,
            region_name=os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        )

    def _call(self, fn: Callable[..., _T], **kwargs: Any) -> _T:
        """``fn(**kwargs)``, retried while the endpoint is unreachable or answers a transient
        error (botocore's own retries give up within seconds and share a small retry quota
        between threads)."""
        deadline = time.monotonic() + self.outage_s
        delay = 0.25
        while True:
            try:
                return fn(**kwargs)
            except (BotoConnectionError, HTTPClientError) as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Unreachable(e, self.outage_s) from e
            except ClientError as e:
                left = deadline - time.monotonic()
                if not _transient(e) or left <= 0:
                    raise
            time.sleep(min(delay, left))  # the last try comes at the deadline
            delay = min(delay * 2, 5.0)

    @classmethod
    def from_uri(cls, uri: str) -> S3Backend:
        parsed = urlparse(uri)
        return cls(parsed.netloc, parsed.path)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes:
        try:
            reply = self._call(self._s3.get_object, Bucket=self.bucket, Key=self._key(key))
            body: bytes = reply["Body"].read()
            return body
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectMissingError(f"{self.uri}/{key} is missing") from None
            raise BackendError(f"cannot read {self.uri}/{key}: {_describe(e)}") from e
        except BotoCoreError as e:
            raise BackendError(f"cannot read {self.uri}/{key}: {_describe(e)}") from e

    def read_prefix(self, key: str, n: int) -> tuple[bytes, int]:
        if n <= 0:
            raise InvalidArgumentError("read_prefix needs n >= 1")
        try:
            reply = self._call(
                self._s3.get_object,
                Bucket=self.bucket,
                Key=self._key(key),
                Range=f"bytes=0-{n - 1}",
            )
            body: bytes = reply["Body"].read()
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code in _MISSING:
                raise ObjectMissingError(f"{self.uri}/{key} is missing") from None
            if code == "InvalidRange":  # an empty object has no byte 0
                return b"", 0
            raise BackendError(f"cannot read {self.uri}/{key}: {_describe(e)}") from e
        except BotoCoreError as e:
            raise BackendError(f"cannot read {self.uri}/{key}: {_describe(e)}") from e
        total = reply.get("ContentRange", "").rpartition("/")[2]  # "bytes 0-9/1234"
        return body, int(total) if total.isdigit() else len(body)

    def put(self, key: str, data: bytes) -> None:
        try:
            self._call(
                self._s3.put_object, Bucket=self.bucket, Key=self._key(key), Body=bytes(data)
            )
        except (ClientError, BotoCoreError) as e:
            raise BackendError(f"cannot write {self.uri}/{key}: {_describe(e)}") from e

    def exists(self, key: str) -> bool:
        try:
            self._call(self._s3.head_object, Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise BackendError(f"cannot stat {self.uri}/{key}: {_describe(e)}") from e
        except BotoCoreError as e:
            raise BackendError(f"cannot stat {self.uri}/{key}: {_describe(e)}") from e

    def list(self, prefix: str = "") -> Iterator[str]:
        if ".." in prefix.split("/"):
            raise InvalidArgumentError(f"invalid storage prefix {prefix!r}")
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        page_args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
        try:
            while True:  # page by page, each page retried like any other call
                page = self._call(self._s3.list_objects_v2, **page_args)
                for obj in page.get("Contents", []):
                    yield obj["Key"][strip:]
                if not page.get("IsTruncated"):
                    return
                page_args["ContinuationToken"] = page["NextContinuationToken"]
        except (ClientError, BotoCoreError) as e:
            raise BackendError(f"cannot list {self.uri}/{prefix}: {_describe(e)}") from e

    def delete(self, key: str) -> None:
        try:
            self._call(self._s3.delete_object, Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as e:
            raise BackendError(f"cannot delete {self.uri}/{key}: {_describe(e)}") from e

    def sync(self) -> None:
        return None

    def local_path(self, key: str) -> str | None:
        return None
