"""The current project of the CLI, and the client that reads every name in it.

The project comes from ``--project``, else ``RAYPACHY_PROJECT``, else ``raypachy config set
project NAME`` (the client config, ``raypachy.client.config``), else
``default``. ``Scoped`` wraps the client: a repo or pipeline named without a project
(``images``, ``images@master:/a``) is read in the current project, one named with it
(``staging/images``) as given; listings show the current project only unless
``--all-projects``.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from typing import Any

import click

from raypachy.client.config import read_config, set_config
from raypachy.errors import InvalidArgumentError
from raypachy.pfs.names import DEFAULT_PROJECT, check_project_name, is_commit_id

_state: dict[str, Any] = {"project": None, "all": False}

#: Settings ``raypachy config set`` knows.
SETTINGS = ("project",)

#: Verbs whose ``name`` is a repo or a pipeline (elsewhere it is a branch, secret, project).
_NAMED = frozenset({
    "create_repo", "inspect_repo", "delete_repo", "inspect_pipeline", "list_pipeline_versions",
    "delete_pipeline", "stop_pipeline", "start_pipeline", "run_cron", "rerun_pipeline",
})  # fmt: skip
_ADDRESSES = ("target", "src", "dst", "new", "old")
_REPO_PART = re.compile(r"^([^@:^~]*)(.*)$", re.S)


def write_config(key: str, value: str | None) -> None:
    """Keep (None: forget) one setting of ``raypachy config set``."""
    if key not in SETTINGS:
        raise InvalidArgumentError(f"unknown setting {key!r}: one of {', '.join(SETTINGS)}")
    set_config(key, None if value is None else check_project_name(value))


def set_flags(project: str | None = None, all_projects: bool | None = None) -> None:
    if project is not None:
        _state["project"] = check_project_name(project)
    if all_projects is not None:
        _state["all"] = all_projects


def current() -> str:
    """The project names are read in: ``--project``, ``RAYPACHY_PROJECT``, the config, default."""
    chosen = _state["project"] or os.environ.get("RAYPACHY_PROJECT") or read_config().get("project")
    return check_project_name(chosen) if chosen else DEFAULT_PROJECT


def qualify(name: str, project: str) -> str:
    """A repo or pipeline name read in ``project`` (``default/x`` is ``x``)."""
    if not isinstance(name, str) or not name:
        return name
    if "/" in name:
        return name.removeprefix(f"{DEFAULT_PROJECT}/")
    return name if project == DEFAULT_PROJECT else f"{project}/{name}"


def qualify_address(text: str, project: str) -> str:
    """``repo@ref:/path`` read in ``project`` (a bare commit-set id stays as it is)."""
    if not isinstance(text, str) or not text or (is_commit_id(text) and "@" not in text):
        return text
    match = _REPO_PART.match(text)
    assert match is not None
    return qualify(match[1], project) + match[2]


def _qualify_spec(spec: Any, project: str) -> Any:
    """A spec (dict) that names no project goes into ``project``."""
    if project == DEFAULT_PROJECT or not isinstance(spec, dict):
        return spec
    named = spec.get("pipeline")
    if (
        isinstance(named, dict)
        and named.get("project") in (None, "")
        and "/" not in str(named.get("name", ""))
    ):
        return {**spec, "pipeline": {**named, "project": {"name": project}}}
    return spec


class Scoped:
    """The client, reading repo and pipeline names in the current project."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def __getattr__(self, verb: str) -> Any:
        method = getattr(self._api, verb)
        if not callable(method) or verb.startswith("_"):
            return method
        return functools.partial(self._call, verb, method)

    def _call(self, verb: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        project = current()
        try:
            bound = inspect.signature(method).bind_partial(*args, **kwargs)
        except (TypeError, ValueError):
            return method(*args, **kwargs)
        a = bound.arguments
        for key in _ADDRESSES:
            if key in a and isinstance(a[key], str):
                a[key] = qualify_address(a[key], project)
        if isinstance(a.get("repo"), str):
            a["repo"] = qualify(a["repo"], project)
        if isinstance(a.get("pipeline"), str):
            a["pipeline"] = qualify(a["pipeline"], project)
        elif isinstance(a.get("pipeline"), dict):
            a["pipeline"] = _qualify_spec(a["pipeline"], project)
        if verb in _NAMED and isinstance(a.get("name"), str):
            a["name"] = qualify(a["name"], project)
        result = method(*bound.args, **bound.kwargs)
        return self._filtered(verb, a, result, project)

    @staticmethod
    def _filtered(verb: str, a: dict[str, Any], result: Any, project: str) -> Any:
        """A listing across repos or pipelines shows the current project's only."""
        if _state["all"] or not isinstance(result, list):
            return result
        if verb in ("list_repos", "list_pipelines") or (
            verb in ("list_jobs", "list_commits")
            and not a.get("pipeline") and not a.get("repo") and not a.get("job_id")
        ):  # fmt: skip
            return [x for x in result if getattr(x, "project", project) == project]
        return result


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if param.name == "project" and value is not None:
        try:
            set_flags(project=value)
        except InvalidArgumentError as e:
            raise click.BadParameter(str(e), ctx=ctx, param=param) from None
    elif param.name == "all_projects" and value:
        set_flags(all_projects=True)
    return value


def add_project_options(command: click.Command, listing: bool = False) -> None:
    """Give ``command`` ``--project`` (and ``--all-projects`` for a listing)."""
    command.params.append(click.Option(
        ["--project"], metavar="NAME", expose_value=False, callback=_remember,
        help="The project of the repos and pipelines named (default: RAYPACHY_PROJECT, "
             "else `raypachy config set project`, else default).",
    ))  # fmt: skip
    if listing:
        command.params.append(click.Option(
            ["-A", "--all-projects"], is_flag=True, expose_value=False, callback=_remember,
            help="List those of every project.",
        ))  # fmt: skip
