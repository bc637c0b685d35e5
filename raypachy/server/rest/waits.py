"""The wait routes: commits, jobs, global ids and changes, held as coroutines (no thread).

The server waits at most ``MAX_WAIT_S`` per request; clients loop for longer waits.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from raypachy.pachd import wire
from raypachy.pachd.access import sift
from raypachy.pps.model import JobState
from raypachy.server.access import sight_of_request
from raypachy.server.rest import bodies
from raypachy.server.service import Service
from raypachy.server.waits import Waits, client_of, wait_seconds


def router(service: Service, waits: Waits) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/commits/wait", tags=["commits"])
    async def wait_commit(request: Request, body: bodies.WaitCommit) -> Any:
        """Until the commit is finished."""
        timeout = wait_seconds(body.timeout)

        async def check() -> tuple[bool, Any]:
            commit = await service.call("inspect_commit", body.target)
            return commit.finished is not None, commit

        def late(c: Any) -> str:
            return f"commit {c.ref} is still open after {timeout}s"

        return wire.encode(await waits.until(client_of(request), check, timeout, late))

    @api.post("/v1/jobs/{pipeline}/{job}/wait", tags=["jobs"])
    async def wait_job(
        request: Request, pipeline: str, job: str, body: bodies.Timeout,
        project: str | None = None,
    ) -> Any:  # fmt: skip
        """Until the job ends (``?project=``: a pipeline of another project)."""
        if project and project != "default":
            pipeline = f"{project}/{pipeline}"
        timeout = wait_seconds(body.timeout)

        async def check() -> tuple[bool, Any]:
            info = await service.call("inspect_job", pipeline, job)
            return JobState(info.state).terminal, info

        def late(info: Any) -> str:
            return f"job {pipeline}@{job} is still {info.state} after {timeout}s"

        return wire.encode(await waits.until(client_of(request), check, timeout, late))

    @api.post("/v1/commitsets/{commit_id}/wait", tags=["commits"])
    async def wait_commit_set(request: Request, commit_id: str, body: bodies.Timeout) -> Any:
        """Until every commit and every job of a global id is done: the whole DAG."""
        timeout = wait_seconds(body.timeout)
        busy = [""]
        sight = sight_of_request(request)

        async def check() -> tuple[bool, Any]:
            found = await service.call("commit_set_state", commit_id)
            busy[0] = found["busy"]
            return not found["busy"], found["commits"]

        def late(_: Any) -> str:
            if sight is not None and not sight.everything:  # it may name what they cannot read
                return f"commit set {commit_id} is still running after {timeout}s"
            return f"{busy[0]} is still running after {timeout}s"

        found = await waits.until(client_of(request), check, timeout, late)
        return wire.encode(sift("wait_commit_set", list(found), sight))

    @api.post("/v1/changes/wait", tags=["commits"])
    async def wait_change(request: Request, body: bodies.WaitChange) -> Any:
        """Long poll: the change counter once it differs from ``since`` (subscriptions)."""
        since, timeout = body.since, wait_seconds(body.timeout)
        return {"version": await waits.next_version(client_of(request), since, timeout)}

    return api
