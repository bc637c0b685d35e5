"""Listings a page at a time: no response, and no operation, holds a whole big listing.

A list route answers at most ``limit`` entries (default and maximum ``PAGE_SIZE``) as a JSON
list, and when more remain, a ``Link: <...>; rel="next"`` header (RFC 8288, as GitHub's API)
whose URL asks for the entries after the last one (``start_after=<cursor>``). The
operation is asked for one entry more than the page, which says whether a next page exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from raypachy.limits import PAGE_SIZE

Limit = Query(None, ge=1, description=f"At most this many entries (at most {PAGE_SIZE:,}).")
StartAfter = Query(None, max_length=8192, description="Continue after this entry (a cursor).")


async def page(
    request: Request,
    fetch: Callable[[int], Awaitable[list[Any]]],
    limit: int | None,
    cursor: Callable[[Any], str],
    path: Callable[[Any], str] | None = None,
) -> JSONResponse:
    """One page of ``fetch(n)`` (the first ``n`` JSON entries after the request's cursor);
    ``path(last entry)`` replaces the request's path in the next link (to pin what it named)."""
    size = min(limit or PAGE_SIZE, PAGE_SIZE)
    items = await fetch(size + 1)
    headers = {}
    if len(items) > size:
        items = items[:size]
        url = request.url.include_query_params(start_after=cursor(items[-1]), limit=size)
        where = quote(path(items[-1])) if path else url.path
        headers["Link"] = f'<{where}?{url.query}>; rel="next"'
    return JSONResponse(items, headers=headers)


def path_of(entry: dict[str, Any]) -> str:
    return str(entry["path"])


def commit_of(entry: dict[str, Any]) -> str:
    return f"{entry['repo']}@{entry['id']}"


def job_of(entry: dict[str, Any]) -> str:
    return f"{entry['pipeline']}@{entry['id']}"


def id_of(entry: dict[str, Any]) -> str:
    return str(entry["id"])
