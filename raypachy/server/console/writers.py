"""Who wrote each file of a commit: the commit that last changed it and, in a pipeline's
output repo, the job (the commit's global id) and the datum whose outputs hold it."""

from __future__ import annotations

from typing import Any

from raypachy.errors import NotFoundError
from raypachy.server.service import Service

MAX_STEPS = 64  # parent commits looked at; older writers are reported as unknown


async def _listing(service: Service, target: str, path: str) -> dict[str, str]:
    try:
        return {f.path: f.hash for f in await service.call("list_files", target, path)}
    except NotFoundError:
        return {}


async def writers(service: Service, target: str, path: str = "/") -> list[dict[str, Any]]:
    """For each entry of ``list_files(target, path)``: its writer, walking back the parents
    until its hash differs (at most ``MAX_STEPS`` commits)."""
    commit = await service.call("inspect_commit", target)
    repo = commit.repo
    pending = await _listing(service, f"{repo}@{commit.id}", path)
    if not pending:
        await service.call("list_files", f"{repo}@{commit.id}", path)  # the not-found error
    kinds = {p: "dir" if p.endswith("/") else "file" for p in pending}
    found: dict[str, Any] = {}
    child, steps = commit, 0
    while pending and child.parent and steps < MAX_STEPS:
        before = await _listing(service, f"{repo}@{child.parent}", path)
        for p, digest in list(pending.items()):
            if before.get(p) != digest:
                found[p] = child
                del pending[p]
        child = await service.call("inspect_commit", f"{repo}@{child.parent}")
        steps += 1
    if not child.parent:
        found.update(dict.fromkeys(pending, child))  # the first commit wrote them
        pending.clear()

    datums: dict[str, dict[str, dict[str, str]]] = {}  # writer commit -> path -> datum
    for c in {c.id: c for c in found.values() if c.origin == "auto"}.values():
        by_output = await _datums_by_output(service, repo, c.id)
        if by_output is not None:
            datums[c.id] = by_output
    out = []
    for p in sorted(kinds):
        writer = found.get(p)
        entry: dict[str, Any] = {"path": p, "type": kinds[p], "commit": None}
        if writer is not None:
            entry |= {"commit": writer.id, "origin": writer.origin, "finished": writer.finished}
            if writer.id in datums:
                entry["job"] = {"pipeline": repo, "id": writer.id}
                entry["datum"] = datums[writer.id].get(p)
        out.append(entry)
    return out


async def _datums_by_output(service: Service, pipeline: str, job: str) -> dict[str, Any] | None:
    try:
        rows = await service.call("list_datums", pipeline, job)
    except NotFoundError:  # an output commit without a job (the pipeline was deleted)
        return None
    return {
        path: {"id": d.id, "state": d.state}
        for d in rows
        if d.state == "success"
        for path in d.outputs
    }
