"""The S3 gateway's ASGI app: path-style S3 requests routed to one catalog of buckets.

Handlers are thin: check the signature, parse, ask the catalog, answer in S3's XML. Every
failure becomes an S3 error document (``NoSuchBucket``, ``NoSuchKey``, ``InvalidRange``,
``AccessDenied``, ``MethodNotAllowed``, ...).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from raypachy.server.access import CheckedService

from raypachy.errors import S3Error
from raypachy.server.ranges import parse_range
from raypachy.server.s3 import wire
from raypachy.server.s3.body import MAX_XML_BYTES, Body, read_body
from raypachy.server.s3.buckets import MAX_KEYS, Blob, Bucket, Catalog, page, read_only
from raypachy.server.s3.multipart import DEFAULT_IDLE_S, MAX_PART_NUMBER, Uploads
from raypachy.server.s3.names import key_path
from raypachy.server.s3.sigv4 import Credentials, Signed, verify
from raypachy.server.service import Service

HEARTBEAT_S = 20.0
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
# Bucket and object sub-resources the gateway does not implement (answered 501).
UNSUPPORTED = frozenset(
    {
        "acl", "policy", "cors", "lifecycle", "tagging", "website", "replication", "encryption",
        "logging", "notification", "object-lock", "accelerate", "requestPayment", "analytics",
        "inventory", "metrics", "intelligent-tiering", "ownershipControls", "publicAccessBlock",
        "retention", "legal-hold", "torrent", "restore", "select", "attributes", "versions",
        "policyStatus",
    }
)  # fmt: skip


def not_implemented(what: str) -> S3Error:
    return S3Error("NotImplemented", f"{what} is not implemented by the raypachy gateway", 501)


def not_allowed(method: str, what: str) -> S3Error:
    return S3Error("MethodNotAllowed", f"{method} is not allowed on {what}", 405)


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _etag_matches(header: str, etag: str) -> bool:
    wanted = {t.strip().strip('"') for t in header.split(",")}
    return "*" in wanted or etag in wanted


def create_s3_app(service: Service, storage_uri: str, token_hash: str | None = None) -> Starlette:
    """The control plane's gateway over the API's operations and the storage at
    ``storage_uri``. With ``token_hash``, every request must be signed (SigV4) with the token
    as both the access key id and the secret; without it (loopback only) none need be."""
    from raypachy.server.access import CheckedService
    from raypachy.server.s3.pfs_catalog import PfsCatalog

    checked = CheckedService(service, token_hash)
    # Any access key may sign (its signature proves the signer holds it: key and secret are
    # both the token); who it is, and what it may do, is the checked service's to say.
    credentials: Credentials | None = (lambda key: key) if token_hash else None
    return create_gateway(PfsCatalog(checked, storage_uri), credentials, checked=checked)


def create_gateway(
    catalog: Catalog,
    credentials: Credentials | None,
    idle_s: float = DEFAULT_IDLE_S,
    checked: CheckedService | None = None,
) -> Starlette:
    """An S3 server over ``catalog``; with ``credentials``, unsigned requests are refused;
    with ``checked`` (the catalog's service), each request's signer is identified first and
    every verb it leads to is checked against the signer's roles."""
    uploads = Uploads(idle_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async def beat() -> None:
            while True:
                await anyio.sleep(HEARTBEAT_S)
                await uploads.tick()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(beat)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                await uploads.abort_all()

    def authenticate(request: Request) -> Signed | None:
        if credentials is None:
            return None
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        return verify(
            request.method,
            raw_path.decode("latin-1"),
            request.scope.get("query_string", b"").decode("latin-1"),
            request.headers.getlist,
            credentials,
        )

    async def body_of(request: Request, signed: Signed | None, limit: int | None = None) -> Body:
        kw = {"limit": limit} if limit else {}
        return await read_body(request.stream(), request.headers.get, signed, **kw)

    async def small_body(request: Request, signed: Signed | None) -> bytes:
        body = await body_of(request, signed, MAX_XML_BYTES)
        try:
            return body.file.read()
        finally:
            body.close()

    # --- buckets -------------------------------------------------------------------------

    async def list_objects(request: Request, bucket: Bucket) -> Response:
        q = request.query_params
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        encoding = q.get("encoding-type", "")
        if encoding not in ("", "url"):
            raise S3Error("InvalidArgument", f"encoding-type {encoding!r}: only 'url' is valid")
        try:
            max_keys = min(int(q.get("max-keys", MAX_KEYS)), MAX_KEYS)
        except ValueError:
            raise S3Error("InvalidArgument", "max-keys must be a whole number") from None
        if max_keys < 0:
            raise S3Error("InvalidArgument", "max-keys must not be negative")
        v2 = q.get("list-type") == "2"
        token, start_after = q.get("continuation-token", ""), q.get("start-after", "")
        if v2 and token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise S3Error("InvalidArgument", "the continuation token is not one this gateway "
                              "gave: start the listing again") from None  # fmt: skip
        else:
            after = start_after if v2 else q.get("marker", "")
        listed = page(await bucket.listing(prefix), prefix, delimiter, after, max_keys)
        result = wire.Page(
            bucket.name, prefix, delimiter, max_keys, listed.objects, listed.prefixes,
            listed.truncated, listed.last, encoding == "url",
        )  # fmt: skip
        if not v2:
            return wire.list_objects_v1(result, q.get("marker", ""))
        next_token = base64.urlsafe_b64encode(listed.last.encode()).decode()
        count = len(listed.objects) + len(listed.prefixes)
        return wire.list_objects_v2(result, token, start_after, next_token, count)

    async def delete_objects(request: Request, bucket: Bucket, signed: Signed | None) -> Response:
        keys, quiet = wire.parse_delete(await small_body(request, signed))
        await bucket.delete(keys)
        return wire.delete_result(keys, [], quiet)

    async def bucket_request(request: Request, name: str, signed: Signed | None) -> Response:
        q, method = request.query_params, request.method
        odd = sorted(UNSUPPORTED & set(q))
        if odd:
            raise not_implemented(f"the bucket sub-resource {odd[0]!r}")
        if method == "PUT":
            await catalog.create_bucket(name)
            return Response(None, 200, headers={"Location": f"/{name}"})
        bucket = await catalog.bucket(name)
        if method == "HEAD":
            await bucket.check()
            return Response(None, 200)
        if method == "GET":
            if "location" in q:
                await bucket.check()
                return wire.location()
            if "versioning" in q:
                await bucket.check()
                return wire.versioning()
            if "uploads" in q:
                await bucket.check()
                listed = [(u.key, u.id, u.started) for u in uploads.in_bucket(name)]
                return wire.list_uploads(name, listed)
            return await list_objects(request, bucket)
        if method == "DELETE":
            await catalog.delete_bucket(name)
            return Response(None, 204)
        if method == "POST" and "delete" in q:
            return await delete_objects(request, bucket, signed)
        raise not_allowed(method, f"bucket {name}")

    # --- objects -------------------------------------------------------------------------

    async def get_object(request: Request, bucket: Bucket, key: str) -> Response:
        blob = await bucket.get(key)
        info = blob.info
        headers = {
            "ETag": _quoted(info.etag),
            "Last-Modified": wire.http_date(info.modified),
            "Accept-Ranges": "bytes",
        }
        if_match = request.headers.get("if-match")
        if if_match and not _etag_matches(if_match, info.etag):
            raise S3Error("PreconditionFailed", "the object's ETag does not match If-Match", 412)
        if_none = request.headers.get("if-none-match")
        if if_none and _etag_matches(if_none, info.etag):
            return Response(None, 304, headers=headers)
        header = request.headers.get("range")
        span = parse_range(header, info.size)
        start, end = span or (0, info.size)
        status = 206 if span else 200
        if span:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
        headers["Content-Length"] = str(end - start)
        headers["Content-Type"] = "application/octet-stream"
        if request.method == "HEAD":
            return Response(None, status, headers=headers)
        return StreamingResponse(blob.read(start, end), status, headers=headers)

    async def copy_source(request: Request) -> Blob:
        source = unquote(request.headers["x-amz-copy-source"]).split("?", 1)[0].lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        if not src_key:
            raise S3Error("InvalidArgument", "x-amz-copy-source must be <bucket>/<key>")
        return await (await catalog.bucket(src_bucket)).get(src_key)

    async def put_object(
        request: Request, bucket: Bucket, key: str, signed: Signed | None
    ) -> Response:
        if not bucket.writable:
            raise read_only(bucket.name)
        if key.endswith("/"):  # a "folder" marker: directories are implicit in a repo
            body = await body_of(request, signed)
            body.close()
            if body.size:
                raise S3Error("InvalidArgument", f"object key {key!r} ends with '/': only an "
                              "empty folder marker may (and it stores nothing)")  # fmt: skip
            return Response(None, 200, headers={"ETag": _quoted(wire.EMPTY_ETAG)})
        key_path(key)  # a bad key is refused before its bytes are read
        if "x-amz-copy-source" in request.headers:
            source = await copy_source(request)
            info = await bucket.copy(key, source)
            return wire.copy_result(info.etag, info.modified)
        body = await body_of(request, signed)
        try:
            info = await bucket.put(key, body)
        finally:
            body.close()
        return Response(None, 200, headers={"ETag": _quoted(info.etag)})

    async def upload_part(
        request: Request, bucket: Bucket, key: str, signed: Signed | None
    ) -> Response:
        q = request.query_params
        try:
            number = int(q.get("partNumber", ""))
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", f"partNumber must be 1..{MAX_PART_NUMBER}")
        upload = uploads.get(q["uploadId"], bucket.name, key)
        upload.busy += 1
        try:
            if "x-amz-copy-source" in request.headers:
                body = await _copy_range(await copy_source(request), request.headers)
            else:
                body = await body_of(request, signed)
            try:
                part = await bucket.put_part(upload.handle, number, body)
            finally:
                body.close()
            upload.parts[number] = part
        finally:
            upload.busy -= 1
        if "x-amz-copy-source" in request.headers:
            return wire.copy_result(part.etag, part.modified, "CopyPartResult")
        return Response(None, 200, headers={"ETag": _quoted(part.etag)})

    async def object_request(
        request: Request, name: str, key: str, signed: Signed | None
    ) -> Response:
        q, method = request.query_params, request.method
        odd = sorted(UNSUPPORTED & set(q))
        if odd:
            raise not_implemented(f"the object sub-resource {odd[0]!r}")
        bucket = await catalog.bucket(name)
        if method in ("GET", "HEAD"):
            if "uploadId" in q and method == "GET":
                upload = uploads.get(q["uploadId"], name, key)
                rows = [(p.number, p.etag, p.size, p.modified)
                        for _, p in sorted(upload.parts.items())]  # fmt: skip
                return wire.list_parts(name, key, upload.id, rows)
            return await get_object(request, bucket, key)
        if method == "PUT":
            if "uploadId" in q:
                return await upload_part(request, bucket, key, signed)
            return await put_object(request, bucket, key, signed)
        if method == "POST" and "uploads" in q:
            handle = await bucket.begin_upload(key)
            return wire.initiate_upload(name, key, uploads.add(bucket, key, handle).id)
        if method == "POST" and "uploadId" in q:
            listed = wire.parse_complete(await small_body(request, signed))
            upload = uploads.get(q["uploadId"], name, key)
            parts = uploads.chosen_parts(upload, listed)
            uploads.pop(upload.id)
            info = await bucket.complete_upload(upload.handle, key, parts)
            url = f"{str(request.base_url).rstrip('/')}/{name}/{key}"
            return wire.complete_upload(url, name, key, info.etag)
        if method == "DELETE" and "uploadId" in q:
            upload = uploads.get(q["uploadId"], name, key)
            uploads.pop(upload.id)
            await bucket.abort_upload(upload.handle)
            return Response(None, 204)
        if method == "DELETE":
            await bucket.delete([key])
            return Response(None, 204)
        raise not_allowed(method, f"object {name}/{key}")

    async def endpoint(request: Request) -> Response:
        path = request.scope["path"]
        name, _, key = path.lstrip("/").partition("/")
        try:
            signed = authenticate(request)
            if checked is not None:
                checked.bind(signed.access_key if signed is not None else None)
                await checked.identify()
            if not name:
                if request.method != "GET":
                    raise not_allowed(request.method, "the service (list buckets with GET /)")
                return wire.list_buckets(await catalog.list_buckets())
            if not key:
                return await bucket_request(request, name, signed)
            return await object_request(request, name, key, signed)
        except Exception as e:
            response = wire.error_response(e, path, head=request.method == "HEAD")
            if not await _drained(request):
                response.headers["Connection"] = "close"
            return response

    return Starlette(routes=[Route("/{rest:path}", endpoint, methods=METHODS)], lifespan=lifespan)


async def _drained(request: Request, limit: int = 1 << 20) -> bool:
    """Read what is left of a refused request's body, so that the next request on the
    connection starts where it should; False if too much is left (close the connection)."""
    if getattr(request, "_stream_consumed", False):
        return True
    left = request.headers.get("content-length")
    if left is not None and left.isdigit() and int(left) > limit:
        return False
    seen = 0
    with contextlib.suppress(Exception):
        async for piece in request.stream():
            seen += len(piece)
            if seen > limit:
                return False
    return True


async def _copy_range(source: Blob, headers: Any) -> Body:
    """A range of another object (UploadPartCopy) as a part's body."""
    header = headers.get("x-amz-copy-source-range")
    span = parse_range(header, source.info.size)
    start, end = span or (0, source.info.size)

    def spool() -> Body:
        file = tempfile.TemporaryFile(prefix="raypachy-s3-")  # noqa: SIM115 (the caller closes it)
        for piece in source.read(start, end):
            file.write(piece)
        file.seek(0)
        return Body(file, end - start)

    return await anyio.to_thread.run_sync(spool)
