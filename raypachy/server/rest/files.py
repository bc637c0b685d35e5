"""The file routes that move bytes: a file's content (with ranges) and uploads."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from raypachy.errors import PathNotFoundError, RangeNotSatisfiableError
from raypachy.limits import max_upload_bytes
from raypachy.pachd import wire
from raypachy.server import bodylimit, errors, writes
from raypachy.server.guard import RAW_BODY
from raypachy.server.ranges import parse_range
from raypachy.server.service import Service


def router(service: Service, plane: writes.DataPlane) -> APIRouter:
    api = APIRouter(tags=["files"])

    @api.get("/v1/files/content")
    async def open_file(request: Request, target: str, path: str) -> Any:
        """A file's bytes; a ``Range: bytes=a-b`` header gets 206 and only those bytes."""
        found = await service.call("walk_data", target, path, 2)  # one file, or not
        if len(found) != 1 or found[0][0] != path.rstrip("/"):
            raise PathNotFoundError(f"{path} is not a file in {target}")
        _, data = found[0]
        store = await anyio.to_thread.run_sync(plane.chunks)
        try:
            span = parse_range(request.headers.get("range"), data.size)
        except RangeNotSatisfiableError as e:
            body = errors.error_body(e.code, e.message, type(e).__name__)
            return JSONResponse(body, 416, headers={"Content-Range": f"bytes */{data.size}"})
        start, end = span or (0, data.size)

        def pieces() -> Iterator[bytes]:
            from raypachy.storage.reader import iter_range

            yield from iter_range(store, data, start, end)

        headers = {"Content-Length": str(end - start), "Accept-Ranges": "bytes"}
        status = 200
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{data.size}"
            status = 206
        return StreamingResponse(
            pieces(), status, media_type="application/octet-stream", headers=headers
        )

    @api.post("/v1/files/upload", openapi_extra=RAW_BODY)
    async def put_file(request: Request, target: str, path: str, append: bool = False) -> Any:
        """Put the request body at ``path``: for clients that cannot reach the storage."""
        path = await writes.check_put(service, target, path, append)  # before any byte is stored
        with tempfile.TemporaryDirectory() as tmp:
            spool = Path(tmp) / "body"
            with open(spool, "wb") as f:  # on disk, capped: the temporary directory goes after
                limit = max_upload_bytes()
                await bodylimit.spool(request, f, "the upload", limit, "RAYPACHY_MAX_UPLOAD_BYTES")
            commit, _ = await writes.write_layer(
                service, plane, target, lambda w: w.put(path, spool, append)
            )
        return wire.encode(commit)

    return api
