"""The few API routes the console needs beyond the REST API: live jobs, pipeline versions,
file previews, text diffs, who wrote each file, and a running job's datums and logs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from raypachy.errors import InvalidArgumentError, PathNotFoundError
from raypachy.limits import PAGE_SIZE
from raypachy.pfs.model import to_json
from raypachy.pps.model import JobState
from raypachy.server import pages
from raypachy.server.access import sight_of_request
from raypachy.server.console import previews
from raypachy.server.console.events import WINDOW, JobFeed
from raypachy.server.console.writers import WRITERS_PAGE, writers
from raypachy.server.service import Service

_DATUM_ID = re.compile(r"[0-9a-f]{1,64}")


def router(service: Service, chunks: Callable[[], Any], feed: JobFeed) -> APIRouter:
    api = APIRouter()

    async def file_data(target: str, path: str) -> Any:
        """The content reference of the file at ``path`` (``PathNotFoundError`` for a directory)."""
        found = await service.call("walk_data", target, path, 2)  # a file, or more than one
        if len(found) != 1 or found[0][0] != path.rstrip("/") or found[0][0].endswith("/"):
            raise PathNotFoundError(f"{path} is not a file in {target}")
        return found[0][1]

    async def read_head(data: Any, limit: int) -> bytes:
        store = await anyio.to_thread.run_sync(chunks)

        def read() -> bytes:
            from raypachy.storage.reader import iter_bytes

            out = bytearray()
            for piece in iter_bytes(store, data):
                out += piece[: limit - len(out)]
                if len(out) >= limit:
                    break
            return bytes(out)

        return await anyio.to_thread.run_sync(read)

    @api.get("/v1/events/jobs", tags=["events"])
    async def job_events(
        request: Request, limit: int = Query(WINDOW, ge=1, le=1000)
    ) -> StreamingResponse:
        """Server-sent events: ``snapshot`` (the recent jobs), then ``job`` for each change."""

        async def alive() -> bool:
            return not await request.is_disconnected()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        sight = sight_of_request(request)
        return StreamingResponse(
            feed.stream(limit, alive, sight=sight),
            media_type="text/event-stream",
            headers=headers,
        )

    @api.get("/v1/pipelines/{name}/versions", tags=["pipelines"])
    async def pipeline_versions(name: str, project: str | None = None) -> Any:
        """Every version of a pipeline, oldest first, with its spec as JSON and YAML
        (``?project=``: a pipeline of another project)."""
        if project and project != "default":
            name = f"{project}/{name}"
        versions: list[dict[str, Any]] = to_json(await service.call("list_pipeline_versions", name))
        for v in versions:
            v["yaml"] = yaml.safe_dump(v["spec"], sort_keys=False)
        return versions

    @api.get("/v1/files/preview", tags=["files"])
    async def preview_file(target: str, path: str, rows: int = Query(100, ge=1, le=1000)) -> Any:
        """A table (CSV, TSV, Parquet), text, or what else the file is, from its first bytes."""
        data = await file_data(target, path)
        head = b""
        if previews.kind_of(path) != "image":
            head = await read_head(data, previews.bytes_wanted(path))
        return await anyio.to_thread.run_sync(
            lambda: previews.preview(path.rstrip("/"), head, data.size, rows)
        )

    @api.get("/v1/files/diff/text", tags=["files"])
    async def text_diff(new: str, path: str, old: str | None = None) -> Any:
        """The line diff of one file between two commits (default: ``new``'s parent)."""
        if old is None:
            commit = await service.call("inspect_commit", new)
            old = f"{commit.repo}@{commit.parent}" if commit.parent else None
        sides: list[bytes | None] = []
        sizes: list[int] = []
        for target in (old, new):
            kind = None if target is None else await service.call("path_kind", target, path)
            if target is None or kind != "file":
                sides.append(None)
                sizes.append(0)
                continue
            data = await file_data(target, path)
            sizes.append(data.size)
            sides.append(
                await read_head(data, previews.DIFF_BYTES) if data.size <= previews.DIFF_BYTES
                else None
            )  # fmt: skip
        if sides == [None, None] and not any(sizes):
            raise PathNotFoundError(f"{path} is a file in neither {old} nor {new}")
        return previews.text_diff(sides[0], sides[1], sizes[0], sizes[1])

    @api.get("/v1/files/writers", tags=["files"])
    async def file_writers(
        target: str,
        path: str = "/",
        limit: int = Query(WRITERS_PAGE, ge=1, le=WRITERS_PAGE),
        start_after: str | None = pages.StartAfter,
    ) -> Any:
        """Who wrote each entry of a directory (the page of ``list_files`` that ``limit`` and
        ``start_after`` name): the commit, and for a pipeline's outputs the job and datum."""
        return to_json(await writers(service, target, path, limit, start_after))

    @api.get("/v1/jobs/{pipeline}/{job}/progress", tags=["jobs"])
    async def job_progress(
        pipeline: str, job: str, limit: int = Query(1000, ge=1, le=PAGE_SIZE),
        project: str | None = None,
    ) -> Any:  # fmt: skip
        """A job and its first ``limit`` datums: those of finished batches while it runs
        (``?project=``: a pipeline of another project)."""
        if project and project != "default":
            pipeline = f"{project}/{pipeline}"
        info = await service.call("inspect_job", pipeline, job)
        if JobState(info.state).terminal:
            datums = to_json(await service.call("list_datums", pipeline, job, limit))
        else:
            datums = [
                {"id": r[0], "pipeline": pipeline, "job": job, "state": r[2], "hash": r[1],
                 "inputs": [], "outputs": list(r[3]), "attempts": r[4], "error": r[5],
                 "duration_s": round(r[6], 6)}
                for _, rows in await service.call("checkpoints", pipeline, job)
                for r in rows
            ]  # fmt: skip
            datums = sorted(datums, key=lambda d: d["id"])[:limit]
        return {"job": to_json(info), "datums": datums, "final": JobState(info.state).terminal}

    @api.get("/v1/logs/datum", tags=["jobs"])
    async def datum_log(pipeline: str, job: str, datum: str) -> Any:
        """One datum's log, as soon as the datum has ended (also while its job runs)."""
        if not _DATUM_ID.fullmatch(datum):
            raise InvalidArgumentError(f"invalid datum id {datum!r}: expected hex digits")
        await service.call("inspect_job", pipeline, job)  # unknown pipeline or job: 404
        store = await anyio.to_thread.run_sync(chunks)
        from raypachy.pps.worker import log_key

        key = log_key(pipeline, job, datum)

        def read() -> bytes | None:
            return store.backend.get(key) if store.backend.exists(key) else None

        text = await anyio.to_thread.run_sync(read)
        return {
            "pipeline": pipeline,
            "job": job,
            "datum": datum,
            "found": text is not None,
            "log": "" if text is None else text.decode("utf-8", errors="replace"),
        }

    return api
