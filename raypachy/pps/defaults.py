"""Cluster and project defaults for pipelines (Pachyderm 2.9+):
``{"create_pipeline_request": {...}}``, merged under every pipeline created or updated
afterwards (the spec's own fields win; objects merge key by key, anything else is
replaced); a project's defaults go between the cluster's and the spec of each pipeline of
that project. Pipelines created before keep their specs until they are updated.

The documents are kept in the metadata store, beside the users' metadata of repos.
"""

from __future__ import annotations

import copy
from typing import Any

from raypachy.errors import InvalidArgumentError, InvalidSpecError
from raypachy.pfs import projects
from raypachy.pfs.metadata import Tx
from raypachy.pfs.names import DEFAULT_PROJECT, check_project_name
from raypachy.pps.spec import parse_spec

_KIND, _REPO, _NAME = "defaults", "", "cluster"
# A project's defaults: (kind, "", "project/<its name>"); rows of a repo named '' never
# exist, so deleting a repo never drops them.
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


def _where(project: str | None) -> tuple[str, str]:
    """The (repo, name) a project's defaults are kept under; the cluster's for None."""
    if project is None:
        return _REPO, _NAME
    return _REPO, f"project/{check_project_name(project)}"


def read(tx: Tx, project: str | None = None) -> dict[str, Any]:
    if project is not None:
        projects.get(tx, project)  # refuses an unknown project
    return tx.object_metadata(_KIND, *_where(project)) or {_KEY: {}}


def write(tx: Tx, doc: dict[str, Any], project: str | None = None) -> None:
    if project is not None:
        projects.get(tx, project)
    tx.set_object_metadata(_KIND, *_where(project), check_defaults(doc))


def forget(tx: Tx, project: str) -> None:
    """Drop a deleted project's defaults."""
    tx.set_object_metadata(_KIND, *_where(project), None)


def _project_of_spec(spec: dict[str, Any]) -> str:
    pipeline = spec.get("pipeline")
    if not isinstance(pipeline, dict):
        return DEFAULT_PROJECT
    name = pipeline.get("name")
    if isinstance(name, str) and "/" in name:
        return name.rpartition("/")[0]
    project = pipeline.get("project")
    if isinstance(project, dict):
        project = project.get("name")
    return project if isinstance(project, str) and project else DEFAULT_PROJECT


def apply(tx: Tx, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` over its project's defaults over the cluster defaults (Pachyderm 2.9+)."""
    request = read(tx)[_KEY]
    project = _project_of_spec(spec)
    if project != DEFAULT_PROJECT and projects.exists(tx, project):
        request = merged(request, read(tx, project)[_KEY])
    return merged(request, spec) if request else spec
