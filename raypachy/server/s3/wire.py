"""S3's XML: the documents the gateway answers with, its errors, and the bodies it reads.

Everything is built and parsed with ``xml.etree`` (keys are escaped by the serializer;
expat refuses entity expansion bombs); request bodies are size-limited by the caller.
"""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from starlette.responses import Response

from raypachy.errors import (
    AlreadyExistsError,
    ConflictError,
    GCBusyError,
    InvalidArgumentError,
    NotFoundError,
    PathNotFoundError,
    PermissionDeniedError,
    RangeNotSatisfiableError,
    RaypachyError,
    S3Error,
    StorageError,
    UnauthenticatedError,
    UnavailableError,
    WaitTimeoutError,
)
from raypachy.secrets import redact
from raypachy.storage.entries import EMPTY_HASH

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
EMPTY_ETAG = EMPTY_HASH.hex()
XML = "application/xml"
log = logging.getLogger("raypachy.s3")


def iso(dt: datetime) -> str:
    """S3's timestamp in XML: ``2024-05-01T12:00:00.000Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0), usegmt=True)


def request_id() -> str:
    return uuid.uuid4().hex[:16].upper()


def _doc(tag: str) -> ET.Element:
    return ET.Element(tag, xmlns=NS)


def _add(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = "true" if text is True else "false" if text is False else str(text)
    return child


def xml_response(
    root: ET.Element, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status, headers=headers, media_type=XML)


# --- errors ---------------------------------------------------------------------------


def to_s3_error(e: BaseException) -> S3Error:
    """The S3 error code and status of any failure (domain errors map by family)."""
    if isinstance(e, S3Error):
        return e
    if isinstance(e, RaypachyError):
        message = e.message
        if isinstance(e, (UnauthenticatedError, PermissionDeniedError)):
            return S3Error("AccessDenied", message, 403)
        if isinstance(e, PathNotFoundError):
            return S3Error("NoSuchKey", message, 404)
        if isinstance(e, NotFoundError):
            return S3Error("NoSuchBucket", message, 404)
        if isinstance(e, AlreadyExistsError):
            return S3Error("BucketAlreadyOwnedByYou", message, 409)
        if isinstance(e, RangeNotSatisfiableError):
            return S3Error("InvalidRange", message, 416)
        if isinstance(e, GCBusyError):
            return S3Error("SlowDown", message, 503)  # clients retry 503s by themselves
        if isinstance(e, ConflictError):
            return S3Error("OperationAborted", message, 409)
        if isinstance(e, InvalidArgumentError):
            return S3Error("InvalidArgument", message, 400)
        if isinstance(e, (UnavailableError, WaitTimeoutError)):
            return S3Error("ServiceUnavailable", message, 503)
        if isinstance(e, StorageError):
            return S3Error("InternalError", message, 500)
        return S3Error("InternalError", message, e.http_status)
    log.error("unexpected error: %s", redact(f"{type(e).__name__}: {e}"))
    return S3Error("InternalError", f"internal error: {type(e).__name__}: {e}", 500)


def error_response(e: BaseException, resource: str, head: bool = False) -> Response:
    err = to_s3_error(e)
    rid = request_id()
    headers = {"x-amz-request-id": rid}
    if head:  # a HEAD answer has no body: the status says it all
        return Response(None, err.http_status, headers=headers)
    root = ET.Element("Error")
    _add(root, "Code", err.s3_code)
    _add(root, "Message", redact(err.message))
    _add(root, "Resource", resource)
    _add(root, "RequestId", rid)
    return xml_response(root, err.http_status, headers)


# --- listings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as a listing or a HEAD shows it."""

    key: str
    size: int
    etag: str  # the file's content hash (hex), shown quoted
    modified: datetime


def list_buckets(names: Iterable[tuple[str, datetime]]) -> Response:
    root = _doc("ListAllMyBucketsResult")
    owner = _add(root, "Owner")
    _add(owner, "ID", "raypachy")
    _add(owner, "DisplayName", "raypachy")
    buckets = _add(root, "Buckets")
    for name, created in names:
        b = _add(buckets, "Bucket")
        _add(b, "Name", name)
        _add(b, "CreationDate", iso(created))
    return xml_response(root)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, ready to be written as ListObjects (V1 or V2)."""

    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_after: str  # the last key or prefix of this page, for the next one
    url_encoded: bool


def _enc(page: Page, text: str) -> str:
    return quote(text, safe="/") if page.url_encoded else text


def _page_body(root: ET.Element, page: Page) -> None:
    _add(root, "Name", page.bucket)
    _add(root, "Prefix", _enc(page, page.prefix))
    if page.delimiter:
        _add(root, "Delimiter", _enc(page, page.delimiter))
    _add(root, "MaxKeys", page.max_keys)
    if page.url_encoded:
        _add(root, "EncodingType", "url")
    _add(root, "IsTruncated", page.truncated)
    for obj in page.objects:
        c = _add(root, "Contents")
        _add(c, "Key", _enc(page, obj.key))
        _add(c, "LastModified", iso(obj.modified))
        _add(c, "ETag", f'"{obj.etag}"')
        _add(c, "Size", obj.size)
        _add(c, "StorageClass", "STANDARD")
    for prefix in page.prefixes:
        _add(_add(root, "CommonPrefixes"), "Prefix", _enc(page, prefix))


def list_objects_v2(
    page: Page, token: str, start_after: str, next_token: str, key_count: int
) -> Response:
    root = _doc("ListBucketResult")
    _page_body(root, page)
    _add(root, "KeyCount", key_count)
    if token:
        _add(root, "ContinuationToken", token)
    if start_after:
        _add(root, "StartAfter", _enc(page, start_after))
    if page.truncated:
        _add(root, "NextContinuationToken", next_token)
    return xml_response(root)


def list_objects_v1(page: Page, marker: str) -> Response:
    root = _doc("ListBucketResult")
    _page_body(root, page)
    _add(root, "Marker", _enc(page, marker))
    if page.truncated:
        _add(root, "NextMarker", _enc(page, page.next_after))
    return xml_response(root)


def location() -> Response:
    return xml_response(_doc("LocationConstraint"))


def versioning() -> Response:
    return xml_response(_doc("VersioningConfiguration"))


# --- writes ---------------------------------------------------------------------------


def copy_result(etag: str, modified: datetime, tag: str = "CopyObjectResult") -> Response:
    root = _doc(tag)
    _add(root, "LastModified", iso(modified))
    _add(root, "ETag", f'"{etag}"')
    return xml_response(root)


def initiate_upload(bucket: str, key: str, upload_id: str) -> Response:
    root = _doc("InitiateMultipartUploadResult")
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "UploadId", upload_id)
    return xml_response(root)


def complete_upload(location_url: str, bucket: str, key: str, etag: str) -> Response:
    root = _doc("CompleteMultipartUploadResult")
    _add(root, "Location", location_url)
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "ETag", f'"{etag}"')
    return xml_response(root)


def list_parts(
    bucket: str, key: str, upload_id: str, parts: list[tuple[int, str, int, datetime]]
) -> Response:
    root = _doc("ListPartsResult")
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "UploadId", upload_id)
    _add(root, "IsTruncated", False)
    for number, etag, size, when in parts:
        p = _add(root, "Part")
        _add(p, "PartNumber", number)
        _add(p, "LastModified", iso(when))
        _add(p, "ETag", f'"{etag}"')
        _add(p, "Size", size)
    return xml_response(root)


def list_uploads(bucket: str, uploads: list[tuple[str, str, datetime]]) -> Response:
    root = _doc("ListMultipartUploadsResult")
    _add(root, "Bucket", bucket)
    _add(root, "IsTruncated", False)
    for key, upload_id, when in uploads:
        u = _add(root, "Upload")
        _add(u, "Key", key)
        _add(u, "UploadId", upload_id)
        _add(u, "Initiated", iso(when))
    return xml_response(root)


def delete_result(deleted: list[str], errors: list[tuple[str, S3Error]], quiet: bool) -> Response:
    root = _doc("DeleteResult")
    if not quiet:
        for key in deleted:
            _add(_add(root, "Deleted"), "Key", key)
    for key, err in errors:
        e = _add(root, "Error")
        _add(e, "Key", key)
        _add(e, "Code", err.s3_code)
        _add(e, "Message", err.message)
    return xml_response(root)


# --- request bodies -------------------------------------------------------------------


def _parse(body: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise S3Error("MalformedXML", f"the {what} body is not well-formed XML: {e}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _text(node: ET.Element, name: str) -> str | None:
    found = _children(node, name)
    return (found[0].text or "") if found else None


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """The (part number, ETag) list of a CompleteMultipartUpload body."""
    root = _parse(body, "CompleteMultipartUpload")
    parts = []
    for part in _children(root, "Part"):
        number, etag = _text(part, "PartNumber"), _text(part, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise S3Error("MalformedXML", "each Part needs a PartNumber and an ETag")
        parts.append((int(number), etag.strip().strip('"')))
    if not parts:
        raise S3Error("MalformedXML", "CompleteMultipartUpload lists no parts")
    return parts


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """The keys of a DeleteObjects body, and whether it asks for a quiet answer."""
    root = _parse(body, "Delete")
    keys = []
    for obj in _children(root, "Object"):
        key = _text(obj, "Key")
        if key is None:
            raise S3Error("MalformedXML", "each Object needs a Key")
        keys.append(key)
    if len(keys) > 1000:
        raise S3Error("MalformedXML", "DeleteObjects takes at most 1000 keys")
    quiet = (_text(root, "Quiet") or "").strip().lower() == "true"
    return keys, quiet
