"""HTTP routes for pipelines, jobs, datums, logs and lineage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request

from raypachy.errors import InvalidArgumentError
from raypachy.limits import max_code_bytes
from raypachy.pps.model import JobState
from raypachy.server import bodies, bodylimit, leasing, pages
from raypachy.server.guard import RAW_BODY
from raypachy.server.service import Service
from raypachy.server.waits import Waits, client_of, wait_seconds

Call = Callable[..., Awaitable[Any]]


def install(
    app: FastAPI, service: Service, call: Call, chunks: Callable[[], Any], waits: Waits
) -> None:
    @app.post("/v1/pipelines", tags=["pipelines"])
    async def create_pipeline(body: bodies.CreatePipeline) -> Any:
        return await call("create_pipeline", body.spec, body.update, body.reprocess)

    @app.get("/v1/pipelines", tags=["pipelines"])
    async def list_pipelines() -> Any:
        return await call("list_pipelines")

    @app.get("/v1/pipelines/{name}", tags=["pipelines"])
    async def inspect_pipeline(name: str) -> Any:
        return await call("inspect_pipeline", name)

    @app.delete("/v1/pipelines/{name}", tags=["pipelines"])
    async def delete_pipeline(name: str, keep_repo: bool = False) -> Any:
        await call("delete_pipeline", name, keep_repo)
        return {"deleted": name}

    @app.post("/v1/pipelines/{name}/stop", tags=["pipelines"])
    async def stop_pipeline(name: str) -> Any:
        return await call("stop_pipeline", name)

    @app.post("/v1/pipelines/{name}/start", tags=["pipelines"])
    async def start_pipeline(name: str) -> Any:
        return await call("start_pipeline", name)

    @app.post("/v1/code", tags=["pipelines"], openapi_extra=RAW_BODY)
    async def upload_code(request: Request) -> Any:
        """Store a pickled Python transform (for clients that cannot reach the storage);
        gc keeps it for the pipeline about to use it."""
        limit = max_code_bytes()
        data = await bodylimit.read(request, "the code upload", limit, "RAYPACHY_MAX_CODE_BYTES")
        if not data:
            raise InvalidArgumentError("empty code upload")
        store = await anyio.to_thread.run_sync(chunks)
        lease = await leasing.own_lease(service)
        try:
            chunk_id, _ = await leasing.heartbeating(service, lease, lambda: store.put(data))
        except BaseException:
            await service.call("release_lease", lease)
            raise
        await call("register_code", chunk_id.hex(), lease)
        return {"code": chunk_id.hex()}

    @app.post("/v1/code/pins", tags=["pipelines"])
    async def pin_code(body: bodies.CodePin) -> Any:
        """Keep code a client stored itself (under ``lease_id``) for the pipeline about to
        use it; releases the lease."""
        await call("register_code", body.code, body.lease_id)
        return {"code": body.code}

    @app.get("/v1/jobs", tags=["jobs"])
    async def list_jobs(
        request: Request, pipeline: str | None = None, id: str | None = None,
        limit: int | None = pages.Limit, start_after: str | None = pages.StartAfter,
    ) -> Any:  # fmt: skip
        def fetch(n: int) -> Any:
            return call("list_jobs", pipeline, id, n, start_after)

        return await pages.page(request, fetch, limit, pages.job_of)

    @app.get("/v1/jobs/{pipeline}/{job}", tags=["jobs"])
    async def inspect_job(pipeline: str, job: str) -> Any:
        return await call("inspect_job", pipeline, job)

    @app.post("/v1/jobs/{pipeline}/{job}/wait", tags=["jobs"])
    async def wait_job(request: Request, pipeline: str, job: str, body: bodies.Timeout) -> Any:
        timeout = wait_seconds(body.timeout)

        async def check() -> tuple[bool, Any]:
            info = await call("inspect_job", pipeline, job)
            return JobState(info["state"]).terminal, info

        def late(info: Any) -> str:
            return f"job {pipeline}@{job} is still {info['state']} after {timeout}s"

        return await waits.until(client_of(request), check, timeout, late)

    @app.post("/v1/jobs/{pipeline}/{job}/stop", tags=["jobs"])
    async def stop_job(pipeline: str, job: str) -> Any:
        return await call("stop_job", pipeline, job)

    @app.get("/v1/jobs/{pipeline}/{job}/datums", tags=["datums"])
    async def list_datums(
        request: Request, pipeline: str, job: str, limit: int | None = pages.Limit,
        start_after: str | None = pages.StartAfter,
    ) -> Any:  # fmt: skip
        def fetch(n: int) -> Any:
            return call("list_datums", pipeline, None if job == "latest" else job, n, start_after)

        def pinned(last: dict[str, Any]) -> str:  # "latest" may be another job by then
            return f"/v1/jobs/{pipeline}/{last['job']}/datums"

        return await pages.page(request, fetch, limit, pages.id_of, pinned)

    @app.get("/v1/jobs/{pipeline}/{job}/datums/{datum}", tags=["datums"])
    async def inspect_datum(pipeline: str, job: str, datum: str) -> Any:
        return await call("inspect_datum", pipeline, job, datum)

    # {datum:path}: a datum may be named by its input paths, as pachctl does ("/a.csv,/b").
    @app.post("/v1/jobs/{pipeline}/{job}/datums/{datum:path}/restart", tags=["datums"])
    async def restart_datum(pipeline: str, job: str, datum: str) -> Any:
        return await call("restart_datum", pipeline, job, datum)

    @app.post("/v1/datums/preview", tags=["datums"])
    async def preview_datums(body: bodies.Preview) -> Any:
        return await call("preview_datums", body.spec, body.limit)

    @app.get("/v1/logs", tags=["jobs"])
    async def logs(pipeline: str, job: str | None = None, datum: str | None = None) -> Any:
        return await call("logs", pipeline, job, datum)

    @app.get("/v1/lineage", tags=["pipelines"])
    async def lineage(target: str) -> Any:
        return await call("lineage", target)

    @app.post("/v1/commitsets/{commit_id}/wait", tags=["commits"])
    async def wait_commit_set(request: Request, commit_id: str, body: bodies.Timeout) -> Any:
        """Wait until every commit and every job of a global id is done: the whole DAG."""
        timeout = wait_seconds(body.timeout)
        busy = [""]

        async def check() -> tuple[bool, Any]:
            found = await call("commit_set_state", commit_id)
            busy[0] = found["busy"]
            return not found["busy"], found["commits"]

        def late(_: Any) -> str:
            return f"{busy[0]} is still running after {timeout}s"

        return await waits.until(client_of(request), check, timeout, late)
