"""A verb's HTTP request, made from its row in the verb table (``raypachy.pachd.verbs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from raypachy.pachd.api import Unset
from raypachy.pachd.verbs import Verb, qualified_params, split_project
from raypachy.pachd.wire import encode

_PATH_PARAM = re.compile(r"{(\w+)(:\w+)?}")

#: Path parameters an absent argument fills (``None`` job: the pipeline's latest).
_ABSENT = {"job": "latest"}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    params: dict[str, Any]
    json: dict[str, Any] | None


def build(verb: Verb, args: dict[str, Any]) -> Request:
    """The request that asks ``verb`` with ``args`` (API argument names)."""
    http = {verb.http_name(k): v for k, v in args.items() if not isinstance(v, Unset)}
    http = split_project(verb, http)
    project = http.pop("project", None) if qualified_params(verb) else None

    def fill(m: re.Match[str]) -> str:
        name, kind = m.group(1), m.group(2)
        value = http.pop(name, None)
        value = _ABSENT.get(name, "") if value is None else value
        return quote(str(value), safe="/," if kind == ":path" else "")

    path = _PATH_PARAM.sub(fill, verb.path)
    where = {} if project is None else {"project": project}
    if verb.body:
        return Request(verb.method, path, where, encode(http))
    params = {k: v for k, v in http.items() if v is not None} | where
    return Request(verb.method, path, params, None)
