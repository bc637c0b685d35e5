"""The FastAPI app: pachd's HTTP API. Handlers are thin: parse, call, encode.

The OpenAPI spec is served at ``/openapi.json``. There is no ``/docs`` page: Swagger UI
loads its scripts from a CDN, and a page of the API's own origin must not run third-party
code. ``server.guard`` checks every request first (Host, Origin, content type, token).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from raypachy import __version__
from raypachy.errors import FileNotFound, RangeNotSatisfiable
from raypachy.limits import max_upload_bytes
from raypachy.pfs.model import to_json
from raypachy.pfs.wire import file_data_from_json
from raypachy.secrets import server_proof
from raypachy.server import bodies, bodylimit, console, errors, leasing, pages, pps_routes, writes
from raypachy.server.guard import RAW_BODY, Guard
from raypachy.server.ranges import parse_range
from raypachy.server.service import Service
from raypachy.server.waits import Waits, client_of, wait_seconds


def create_app(
    service: Service, storage_uri: str, token_hash: str | None = None, hosts: Iterable[str] = ()
) -> FastAPI:
    """Build the app over ``service`` (the operations) and the storage it serves bytes from.

    With ``token_hash`` (the SHA-256 of the API token), every request but ``/healthz`` and the
    console's static assets needs ``Authorization: Bearer <token>``; others get 401. Requests
    must name the API by a loopback name or one of ``hosts`` (``"*"``: any name, for a server
    on every interface).
    """
    app = FastAPI(
        title="raypachy", version=__version__, summary="Git for data on Ray",
        docs_url=None, redoc_url=None,
    )  # fmt: skip
    errors.install(app)
    app.add_middleware(
        Guard, token_hash=token_hash, hosts=tuple(hosts),
        is_open=lambda path: path == "/healthz" or console.is_asset(path),
    )  # fmt: skip

    waits = app.state.waits = Waits(service)
    plane = writes.DataPlane(storage_uri)
    chunks = plane.chunks

    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return to_json(await service.call(name, *args, **kwargs))

    @app.get("/healthz", tags=["cluster"])
    async def healthz(
        challenge: str | None = Query(None, min_length=16, max_length=128, pattern="^[0-9a-f]+$"),
    ) -> dict[str, Any]:
        """Liveness, open to all; with a ``challenge`` the server proves it holds the token."""
        reply: dict[str, Any] = {"ok": True, "version": __version__}
        if challenge and token_hash:
            reply["proof"] = server_proof(token_hash, challenge)
        return reply

    @app.get("/v1/config", tags=["cluster"])
    async def config() -> dict[str, Any]:
        return {"storage": storage_uri, "version": __version__}

    @app.get("/v1/status", tags=["cluster"])
    async def status() -> dict[str, Any]:
        meta = await service.call("status")
        api = {"pid": os.getpid(), "host": socket.gethostname(), "waits": waits.count}
        return {"api": api, "metadata": meta}

    # --- repos and branches ------------------------------------------------------------

    @app.get("/v1/repos", tags=["repos"])
    async def list_repos() -> Any:
        return await call("list_repos")

    @app.post("/v1/repos", tags=["repos"])
    async def create_repo(body: bodies.CreateRepo) -> Any:
        return await call("create_repo", body.name, body.description, body.update)

    @app.get("/v1/repos/{name}", tags=["repos"])
    async def inspect_repo(name: str) -> Any:
        return await call("inspect_repo", name)

    @app.delete("/v1/repos/{name}", tags=["repos"])
    async def delete_repo(name: str, force: bool = False) -> Any:
        warnings = await call("delete_repo", name, force)
        return {"deleted": name, "warnings": warnings}

    @app.get("/v1/repos/{repo}/branches", tags=["branches"])
    async def list_branches(repo: str) -> Any:
        return await call("list_branches", repo)

    @app.get("/v1/repos/{repo}/branches/{name}", tags=["branches"])
    async def inspect_branch(repo: str, name: str) -> Any:
        return await call("inspect_branch", repo, name)

    @app.put("/v1/repos/{repo}/branches/{name}", tags=["branches"])
    async def put_branch(repo: str, name: str, body: bodies.PutBranch) -> Any:
        kw = {"expected_head": body.expected_head} if body.check_expected else {}
        return await call("create_branch", repo, name, body.head, **kw)

    @app.delete("/v1/repos/{repo}/branches/{name}", tags=["branches"])
    async def delete_branch(repo: str, name: str) -> Any:
        await call("delete_branch", repo, name)
        return {"deleted": f"{repo}@{name}"}

    # --- commits -------------------------------------------------------------------------

    @app.post("/v1/commits/start", tags=["commits"])
    async def start_commit(body: bodies.StartCommit) -> Any:
        return await call(
            "start_commit",
            body.target,
            parent=body.parent,
            description=body.description,
            commit_id=body.id,
            provenance=[p.model_dump() for p in body.provenance],
            origin=body.origin,
        )

    @app.post("/v1/commits/finish", tags=["commits"])
    async def finish_commit(body: bodies.FinishCommit) -> Any:
        return await call(
            "finish_commit", body.target, error=body.error, description=body.description
        )

    @app.get("/v1/commits", tags=["commits"])
    async def list_commits(
        request: Request, repo: str | None = None, branch: str | None = None,
        limit: int | None = pages.Limit, start_after: str | None = pages.StartAfter,
    ) -> Any:  # fmt: skip
        def fetch(n: int) -> Any:
            return call("list_commits", repo, branch, n, start_after)

        return await pages.page(request, fetch, limit, pages.commit_of)

    @app.get("/v1/commit", tags=["commits"])
    async def inspect_commit(target: str) -> Any:
        return await call("inspect_commit", target)

    @app.get("/v1/commitsets/{commit_id}", tags=["commits"])
    async def commit_set(commit_id: str) -> Any:
        return await call("commit_set", commit_id)

    @app.post("/v1/commits/wait", tags=["commits"])
    async def wait_commit(request: Request, body: bodies.WaitCommit) -> Any:
        # The server waits at most 30 s per request; clients loop for longer waits.
        timeout = wait_seconds(body.timeout)

        async def check() -> tuple[bool, Any]:
            commit = await call("inspect_commit", body.target)
            return commit["finished"] is not None, commit

        def late(c: Any) -> str:
            return f"commit {c['repo']}@{c['id']} is still open after {timeout}s"

        return await waits.until(client_of(request), check, timeout, late)

    @app.post("/v1/changes/wait", tags=["commits"])
    async def wait_change(request: Request, body: bodies.WaitChange) -> Any:
        """Long poll: the change counter once it differs from ``since`` (subscriptions)."""
        since, timeout = body.since, wait_seconds(body.timeout)
        return {"version": await waits.next_version(client_of(request), since, timeout)}

    @app.post("/v1/commits/delete", tags=["commits"])
    async def delete_commit(body: bodies.Target) -> Any:
        return await call("delete_commit", body.target)

    @app.post("/v1/commits/squash", tags=["commits"])
    async def squash_commit(body: bodies.Target) -> Any:
        return await call("squash_commit", body.target)

    # --- files -----------------------------------------------------------------------------

    @app.get("/v1/files", tags=["files"])
    async def list_files(
        request: Request, target: str, path: str = "/", limit: int | None = pages.Limit,
        start_after: str | None = pages.StartAfter,
    ) -> Any:  # fmt: skip
        def fetch(n: int) -> Any:
            return call("list_files", target, path, n, start_after)

        return await pages.page(request, fetch, limit, pages.path_of)

    @app.get("/v1/files/glob", tags=["files"])
    async def glob_files(
        request: Request, target: str, pattern: str, limit: int | None = pages.Limit,
        start_after: str | None = pages.StartAfter,
    ) -> Any:  # fmt: skip
        def fetch(n: int) -> Any:
            return call("glob_files", target, pattern, n, start_after)

        return await pages.page(request, fetch, limit, pages.path_of)

    @app.get("/v1/files/inspect", tags=["files"])
    async def inspect_file(target: str, path: str = "/") -> Any:
        return await call("inspect_file", target, path)

    @app.get("/v1/files/diff", tags=["files"])
    async def diff_files(new: str, old: str | None = None, path: str = "/") -> Any:
        return await call("diff_files", new, old, path)

    @app.get("/v1/files/refs", tags=["data plane"])
    async def file_refs(
        request: Request, target: str, path: str = "/", limit: int | None = pages.Limit,
        start_after: str | None = pages.StartAfter,
    ) -> Any:  # fmt: skip
        def fetch(n: int) -> Any:
            return call("walk_refs", target, path, n, start_after)

        return await pages.page(request, fetch, limit, pages.path_of)

    @app.get("/v1/files/kind", tags=["data plane"])
    async def path_kind(target: str, path: str) -> Any:
        return {"kind": await call("path_kind", target, path)}

    @app.get("/v1/files/content", tags=["files"])
    async def file_content(request: Request, target: str, path: str) -> Any:
        """A file's bytes; a ``Range: bytes=a-b`` header gets 206 and only those bytes."""
        refs = await service.call("walk_refs", target, path, 2)  # one file, or not
        if (
            len(refs) != 1
            or refs[0]["path"] != refs[0]["path"].rstrip("/")
            or (path.rstrip("/") != refs[0]["path"])
        ):
            raise FileNotFound(f"{path} is not a file in {target}")
        _, data = file_data_from_json(refs[0])
        store = await anyio.to_thread.run_sync(chunks)

        try:
            span = parse_range(request.headers.get("range"), data.size)
        except RangeNotSatisfiable as e:
            body = errors.error_body(e.code, e.message, type(e).__name__)
            return JSONResponse(body, 416, headers={"Content-Range": f"bytes */{data.size}"})
        start, end = span or (0, data.size)

        def pieces() -> Iterator[bytes]:
            from raypachy.storage.reader import iter_range

            yield from iter_range(store, data, start, end)

        headers = {"Content-Length": str(end - start), "Accept-Ranges": "bytes"}
        if span is None:
            return StreamingResponse(
                pieces(), media_type="application/octet-stream", headers=headers
            )
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{data.size}"
        return StreamingResponse(
            pieces(), 206, media_type="application/octet-stream", headers=headers
        )

    @app.post("/v1/files/upload", tags=["files"], openapi_extra=RAW_BODY)
    async def upload_file(request: Request, target: str, path: str, append: bool = False) -> Any:
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
        return to_json(commit)

    @app.post("/v1/files/delete", tags=["files"])
    async def delete_file(body: bodies.FilePath) -> Any:
        return await call("delete_file", body.target, body.path)

    @app.post("/v1/files/copy", tags=["files"])
    async def copy_file(body: bodies.CopyFile) -> Any:
        return await call(
            "copy_file", body.src, body.src_path, body.dst, body.dst_path, body.append
        )

    # --- the data plane: direct writers register what they wrote ---------------------------

    @app.post("/v1/writable", tags=["data plane"])
    async def writable(body: bodies.Target) -> Any:
        await call("check_writable", body.target)
        return {"ok": True}

    @app.post("/v1/layers", tags=["data plane"])
    async def register_layer(body: bodies.RegisterLayer) -> Any:
        return await call("register_layer", body.target, body.manifest_id, body.lease_id)

    @app.post("/v1/leases", tags=["data plane"])
    async def acquire_lease(request: Request, body: bodies.Lease) -> Any:
        """A write lease for the caller (see ``raypachy.server.leasing``): heartbeat it every
        ``heartbeat_s``; after ``ttl_s`` without one it is gone."""
        return await leasing.caller_lease(service, request, body.pid, body.host)

    @app.put("/v1/leases/{lease_id}", tags=["data plane"])
    async def heartbeat_lease(lease_id: str) -> Any:
        await call("heartbeat_lease", lease_id)
        return {"id": lease_id}

    @app.delete("/v1/leases/{lease_id}", tags=["data plane"])
    async def release_lease(lease_id: str) -> Any:
        await call("release_lease", lease_id)
        return {"id": lease_id}

    @app.post("/v1/gc", tags=["cluster"])
    async def gc() -> Any:
        return await call("gc")

    @app.post("/v1/fsck", tags=["cluster"])
    async def fsck(body: bodies.Fsck) -> Any:
        return await call("fsck", body.fix, body.deep)

    pps_routes.install(app, service, call, chunks, waits)
    console.mount(app, service, chunks)
    return app
