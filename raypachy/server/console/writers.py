"""Who wrote each file of a commit: the commit that last changed it and, in a pipeline's
output repo, the job (the commit's global id) and the datum whose outputs hold it."""

from __future__ import annotations

from typing import Any

from raypachy.errors import NotFoundError
from raypachy.server.service import Service

MAX_STEPS = 64  # parent commits looked at; older writers are reported as unknown
WRITERS_PAGE = 1000  # entries answered per call (the page of the listing asked for)
DATUMS_SCANNED = 10_000  # datums of one job looked through for the one that wrote a path


async def _listing(
    service: Service, target: str, path: str, after: str | None, last: str
) -> dict[str, str] | None:
    """``path``'s entries in ``target`` after ``after`` up to ``last``: path -> hash ({} when
    the directory is not there; None when the range holds too many entries to look at)."""
    out: dict[str, str] = {}
    cursor = after
    while len(out) <= 4 * WRITERS_PAGE:
        try:
            page = await service.call("list_files", target, path, WRITERS_PAGE, cursor)
        except NotFoundError:
            return out
        for f in page:
            if f.path > last:
                return out
            out[f.path] = f.hash
        if len(page) < WRITERS_PAGE:
            return out
        cursor = page[-1].path
    return None


async def writers(
    service: Service,
    target: str,
    path: str = "/",
    limit: int = WRITERS_PAGE,
    start_after: str | None = None,
) -> list[dict[str, Any]]:
    """For each entry of ``list_files(target, path, limit, start_after)``: its writer,
    walking back the parents until its hash differs (at most ``MAX_STEPS`` commits)."""
    commit = await service.call("inspect_commit", target)
    repo = commit.repo
    here = await service.call("list_files", f"{repo}@{commit.id}", path, limit, start_after)
    pending = {f.path: f.hash for f in here}
    if not pending:
        return []
    last = max(pending)
    kinds = {f.path: f.type for f in here}
    found: dict[str, Any] = {}
    child, steps = commit, 0
    while pending and child.parent and steps < MAX_STEPS:
        before = await _listing(service, f"{repo}@{child.parent}", path, start_after, last)
        if before is None:
            break
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
        rows = await service.call("list_datums", pipeline, job, DATUMS_SCANNED)
    except NotFoundError:  # an output commit without a job (the pipeline was deleted)
        return None
    return {
        path: {"id": d.id, "state": d.state}
        for d in rows
        if d.state == "success"
        for path in d.outputs
    }
