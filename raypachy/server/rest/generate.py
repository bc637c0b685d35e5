"""HTTP routes made from the verb table: one generated endpoint per routed verb.

An endpoint's parameters come from the verb's row (``raypachy.pachd.verbs``) and from the
signature of its method on ``raypachy.pachd.API``: path parameters from the route, a JSON
body model when the row names one, query parameters (typed from the method's annotations)
otherwise. The endpoint calls the verb through the ``Service`` and encodes its result; a
listing across objects keeps the entries its caller may read (``request.state.sight``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from raypachy.limits import PAGE_SIZE
from raypachy.pachd import wire
from raypachy.pachd.access import sift
from raypachy.pachd.api import API, Unset, verb_hints
from raypachy.pachd.verbs import Verb, join_project, qualified_params
from raypachy.pfs.transactions import HEADER, RECORDED
from raypachy.server.access import sight_of_request
from raypachy.server.rest import bodies
from raypachy.server.service import Service

_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")

#: Path words that stand for an absent argument: ``/v1/jobs/p/latest/datums``.
_ABSENT = {"job": "latest"}
_PAGING = ("limit", "start_after")

_LIMIT = Query(None, ge=1, description=f"At most this many entries (at most {PAGE_SIZE:,}).")
_START_AFTER = Query(None, max_length=8192, description="Continue after this entry (a cursor).")

#: What a listing continues after: the cursor of its last entry.
_CURSORS: dict[str, Callable[[dict[str, Any]], str]] = {
    "path": lambda e: str(e["path"]),
    "commit": lambda e: f"{e['repo']}@{e['id']}",
    "job": lambda e: f"{e['pipeline']}@{e['id']}",
    "id": lambda e: str(e["id"]),
}


def path_params(verb: Verb) -> list[str]:
    """The HTTP names of a route's path parameters, in order."""
    return _PATH_PARAM.findall(verb.path)


def add_route(router: APIRouter, verb: Verb, service: Service) -> None:
    """Add the generated endpoint of ``verb`` to ``router``."""
    method = getattr(API, verb.name)
    hints = verb_hints(verb.name)
    signature = inspect.signature(method)
    to_api = {verb.http_name(a): a for a in signature.parameters if a != "self"}
    in_path = path_params(verb)
    model = getattr(bodies, verb.body) if verb.body else None

    params = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    params += [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=str)
               for p in in_path]  # fmt: skip
    if qualified_params(verb):  # a repo or pipeline of another project: ?project=P
        params.append(inspect.Parameter(
            "project", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=Query(None, description="The project of the repo or pipeline named."),
        ))  # fmt: skip
    if model is not None:
        params.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=model))
    else:
        for http, arg in to_api.items():
            if http in in_path:
                continue
            default = signature.parameters[arg].default
            if verb.cursor and arg in _PAGING:
                default = _LIMIT if arg == "limit" else _START_AFTER
            elif isinstance(default, Unset):
                continue  # an argument HTTP callers cannot leave unset: not offered
            params.append(
                inspect.Parameter(
                    http, inspect.Parameter.KEYWORD_ONLY, annotation=hints[arg], default=default
                )
            )

    async def endpoint(**kw: Any) -> Any:
        request: Request = kw.pop("request")
        body = kw.pop("body", None)
        kw = join_project(verb, kw)
        if qualified_params(verb):
            kw.pop("project", None)  # (join_project keeps it when no name needed it)
        args = {to_api.get(k, k): None if _ABSENT.get(k, ...) == v else v for k, v in kw.items()}
        if body is not None:
            args |= {to_api.get(k, k): v for k, v in body.api_args().items()}
        if verb.cursor:
            return await _page(request, verb, service, args)
        txn = request.headers.get(HEADER) if verb.name in RECORDED else None
        if txn:  # the client's active transaction: recorded, applied when it finishes
            result = await service.call("record_in_transaction", txn, verb.name, args)
        else:
            result = await service.call(verb.name, **args)
            result = sift(verb.name, result, sight_of_request(request))
        return reply(verb, result, {verb.http_name(k): v for k, v in args.items()})

    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = verb.name
    endpoint.__doc__ = inspect.getdoc(method)
    router.add_api_route(
        _route_path(verb), endpoint, methods=[verb.method], tags=[verb.tag], name=verb.name
    )


def _route_path(verb: Verb) -> str:
    return verb.path


def reply(verb: Verb, result: Any, args: dict[str, Any]) -> Any:
    """The JSON a verb answers: its result, bare or under ``key``, with ``echo`` fields."""
    encoded = wire.encode_result(verb.name, result)
    if not verb.key and not verb.echo:
        return encoded
    out = {k: v.format(**args) if isinstance(v, str) else v for k, v in verb.echo.items()}
    if verb.key:
        out[verb.key] = encoded
    return out


async def _page(request: Request, verb: Verb, service: Service, args: dict[str, Any]) -> Any:
    """One page of a listing and, when more remain, a ``Link: <...>; rel="next"`` header
    (RFC 8288) asking for the entries after the last one. The verb is asked for one entry
    more than the page: that says whether a next page exists. Entries the caller may not
    read are skipped before the page is cut, so a Link never names one."""
    size = min(args.get("limit") or PAGE_SIZE, PAGE_SIZE)
    sight, after = sight_of_request(request), args.get("start_after")
    items: list[Any] = []
    while True:  # more than once only when entries the caller may not read were skipped
        found = await service.call(verb.name, **(args | {"limit": size + 1, "start_after": after}))
        scanned = wire.encode_result(verb.name, found)
        items += sift(verb.name, scanned, sight)
        if len(items) > size or len(scanned) <= size:
            break
        after = _CURSORS[verb.cursor](scanned[-1])  # asked here only, never shown
    headers = {}
    if len(items) > size:
        items = items[:size]
        url = request.url.include_query_params(
            start_after=_CURSORS[verb.cursor](items[-1]), limit=size
        )
        headers["Link"] = (
            f'<{_pinned(verb, request, items[-1]) or url.path}?{url.query}>; rel="next"'
        )
    return JSONResponse(items, headers=headers)


def _pinned(verb: Verb, request: Request, last: dict[str, Any]) -> str | None:
    """The next page of a job's datums names the job the page came from: "latest" may be
    another job by the time the next page is asked for."""
    if verb.name == "list_datums" and request.path_params.get("job") == "latest":
        return quote(f"/v1/jobs/{request.path_params['pipeline']}/{last['job']}/datums")
    return None
