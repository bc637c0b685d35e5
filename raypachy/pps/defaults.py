"""Cluster defaults for pipelines (Pachyderm 2.9+): ``{"create_pipeline_request": {...}}``,
merged under every pipeline created or updated afterwards (the spec's own fields win; objects
merge key by key, anything else is replaced). Pipelines created before keep their specs
until they are updated.

The document is kept in the metadata store, beside the users' metadata of repos.
"""

from __future__ import annotations

import copy
from typing import Any

from raypachy.errors import InvalidArgumentError, InvalidSpecError
from raypachy.pfs.metadata import Tx
from raypachy.pps.spec import parse_spec

_KIND, _REPO, _NAME = "defaults", "", "cluster"
_KEY = "create_pipeline_request"
#: What a spec needs besides the defaults, to check that the defaults parse.
_SKELETON = {"pipeline": {"name": "defaults"}, "input": {"pfs": {"repo": "any-input"}}}


def merged(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` with ``under``'s fields where it has none (objects merge recursively)."""
    out = copy.deepcopy(under)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_defaults(doc: Any) -> dict[str, Any]:
    """The defaults document, or ``InvalidArgumentError`` saying what is wrong with it."""
    if not isinstance(doc, dict) or set(doc) - {_KEY} or not isinstance(doc.get(_KEY, {}), dict):
        raise InvalidArgumentError(
            f'defaults are {{"{_KEY}": {{...pipeline spec fields...}}}}, e.g. '
            f'{{"{_KEY}": {{"datum_tries": 5}}}}'
        )
    request = doc.get(_KEY, {})
    for field in ("pipeline", "input"):
        if field in request:
            raise InvalidArgumentError(f"defaults cannot set {field}: each pipeline names its own")
    probe = merged({"transform": {"cmd": ["true"]}}, request)
    try:
        parse_spec({**probe, **_SKELETON})
    except InvalidSpecError as e:
        raise InvalidArgumentError(f"invalid defaults: {e}") from None
    return {_KEY: request}


def read(tx: Tx) -> dict[str, Any]:
    return tx.object_metadata(_KIND, _REPO, _NAME) or {_KEY: {}}


def write(tx: Tx, doc: dict[str, Any]) -> None:
    tx.set_object_metadata(_KIND, _REPO, _NAME, check_defaults(doc))


def apply(tx: Tx, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the cluster defaults under it."""
    request = read(tx)[_KEY]
    return merged(request, spec) if request else spec
