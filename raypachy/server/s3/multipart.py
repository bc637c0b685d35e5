"""Multipart uploads in progress: the gateway's memory of them, kept alive or expired.

An upload lives in the gateway process from CreateMultipartUpload to Complete or Abort;
its parts are stored by the bucket's catalog (chunks under a writer lease for a repo).
Nothing of it is visible before completion. An upload left idle for ``idle_s`` is aborted
(its lease released, so gc may take its chunks); a restarted gateway forgets its uploads,
and their leases expire on their own.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from raypachy.errors import S3Error
from raypachy.server.s3.buckets import Bucket, StoredPart

MAX_PART_NUMBER = 10_000
DEFAULT_IDLE_S = 3600.0
log = logging.getLogger("raypachy.s3")


@dataclass
class Upload:
    id: str
    bucket: Bucket
    key: str
    handle: Any
    started: datetime
    parts: dict[int, StoredPart] = field(default_factory=dict)
    touched: float = field(default_factory=time.monotonic)
    busy: int = 0  # parts being received right now


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload", f"upload {upload_id!r} does not exist: it was completed, aborted or "
        "expired (or the gateway restarted)", 404,
    )  # fmt: skip


class Uploads:
    def __init__(self, idle_s: float = DEFAULT_IDLE_S) -> None:
        self.idle_s = idle_s
        self._uploads: dict[str, Upload] = {}

    def add(self, bucket: Bucket, key: str, handle: Any) -> Upload:
        upload = Upload(uuid.uuid4().hex, bucket, key, handle, datetime.now(UTC))
        self._uploads[upload.id] = upload
        return upload

    def get(self, upload_id: str, bucket: str, key: str) -> Upload:
        upload = self._uploads.get(upload_id)
        if upload is None or upload.bucket.name != bucket or upload.key != key:
            raise no_such_upload(upload_id)
        upload.touched = time.monotonic()
        return upload

    def pop(self, upload_id: str) -> Upload | None:
        return self._uploads.pop(upload_id, None)

    def in_bucket(self, bucket: str) -> list[Upload]:
        return sorted(
            (u for u in self._uploads.values() if u.bucket.name == bucket),
            key=lambda u: (u.key, u.started),
        )

    def chosen_parts(self, upload: Upload, listed: list[tuple[int, str]]) -> list[StoredPart]:
        """The stored parts a CompleteMultipartUpload names, checked as S3 checks them."""
        numbers = [n for n, _ in listed]
        if numbers != sorted(set(numbers)):
            raise S3Error("InvalidPartOrder", "list the parts in ascending order, each once")
        parts = []
        for number, etag in listed:
            part = upload.parts.get(number)
            if part is None or part.etag != etag:
                raise S3Error(
                    "InvalidPart", f"part {number} with ETag {etag!r} was not uploaded (or "
                    "was replaced): list the ETags UploadPart returned",
                )  # fmt: skip
            parts.append(part)
        return parts

    async def tick(self) -> None:
        """Renew the leases of live uploads; abort the idle ones."""
        now = time.monotonic()
        for upload in list(self._uploads.values()):
            try:
                if upload.busy == 0 and now - upload.touched > self.idle_s:
                    self.pop(upload.id)
                    log.warning("multipart upload %s of %s expired", upload.id, upload.key)
                    await upload.bucket.abort_upload(upload.handle)
                else:
                    await upload.bucket.keep_alive(upload.handle)
            except Exception as e:  # one upload's trouble must not stop the others' renewals
                log.warning("multipart upload %s: %s", upload.id, e)

    async def abort_all(self) -> None:
        for upload in list(self._uploads.values()):
            self.pop(upload.id)
            with contextlib.suppress(Exception):
                await upload.bucket.abort_upload(upload.handle)
