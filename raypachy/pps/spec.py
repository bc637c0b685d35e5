"""The pipeline spec: Pachyderm's JSON/YAML, as users already write it.

Field names are accepted in snake_case or camelCase. An unknown or mistyped field is an
error naming its path in the spec; a Pachyderm feature raypachy does not run yet is refused
with one line naming it. Both front doors (a spec file and ``@raypachy.pipeline``) produce
a ``PipelineSpec``.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from raypachy.errors import InvalidSpecError
from raypachy.pfs.glob import clean_pattern, compile_glob
from raypachy.pfs.names import (
    DEFAULT_PROJECT,
    check_branch_name,
    check_project_name,
    check_repo_name,
    shown,
)
from raypachy.pps.cron import parse_schedule, parse_tick_name
from raypachy.pps.longrunning import ServiceSpec, SpoutSpec, check_long_running
from raypachy.pps.podgroup import check_pod_fields
from raypachy.pps.units import parse_bytes, parse_cpu, parse_duration
from raypachy.secrets import looks_secret

_INPUT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


def check_input_name(name: str) -> str:
    """An input's name is a directory under ``/pfs`` and an environment variable: the repo
    name rule, and not ``out`` (the output directory)."""
    if not isinstance(name, str) or not _INPUT_NAME_RE.match(name):
        raise InvalidSpecError(
            f"invalid input name {shown(name)}: use 1-63 letters, digits, '_' or '-' (it "
            "becomes the directory /pfs/<name>)"
        )
    if name == "out":
        raise InvalidSpecError(
            "invalid input name 'out': /pfs/out is the output directory; give the input "
            "another pfs.name"
        )
    return name


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def _project_name(value: Any) -> Any:
    """Pachyderm 2.5+ writes a project as ``{"name": "default"}``; older specs as a string."""
    if isinstance(value, dict) and set(value) <= {"name"}:
        return value.get("name")
    return value


def _split_key(data: Any, field: str, what: str) -> Any:
    """``{field: "proj/x"}`` -> ``{field: "x", "project": "proj"}`` (one project named twice
    differently is refused)."""
    if not isinstance(data, dict) or not isinstance(data.get(field), str):
        return data
    owner, sep, plain = data[field].rpartition("/")
    if not sep:
        return data
    given = _project_name(data.get("project"))
    if given not in (None, "", owner) and not {given, owner} <= {"", DEFAULT_PROJECT}:
        raise ValueError(
            f"{what} {data[field]!r} names project {owner!r} but its project is {given!r}: "
            "name the project once"
        )
    return {**data, field: plain, "project": owner}


class PipelineName(_Spec):
    name: str
    project: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _qualified(cls, data: Any) -> Any:
        return _split_key(data, "name", "pipeline name")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_repo_name(v)

    @field_validator("project", mode="before")
    @classmethod
    def _project(cls, v: Any) -> Any:
        v = _project_name(v)
        return check_project_name(v) if isinstance(v, str) and v else v

    @property
    def key(self) -> str:
        """The pipeline's key: its name, after ``project/`` outside the default project."""
        if self.project in (None, "", DEFAULT_PROJECT):
            return self.name
        return f"{self.project}/{self.name}"


class Secret(_Spec):
    name: str | None = None
    mount_path: str | None = None
    env_var: str | None = None
    key: str | None = None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A stored function's key: the chunk id of its pickle, in lowercase hex.
CODE_KEY = re.compile(r"[0-9a-f]{64}")
#: How deeply a spec may nest objects and lists (real specs need a dozen levels).
MAX_SPEC_DEPTH = 64


def check_code_key(code: str) -> str:
    if not CODE_KEY.fullmatch(code):
        raise InvalidSpecError(
            f"invalid code key {code[:80]!r}: 64 lowercase hex characters, the storage key of "
            "a pickled function (as `create_pipeline` with a decorated function stores it)"
        )
    return code


class PythonCode(_Spec):
    """raypachy's own transform kind: a Python function stored content-addressed."""

    code: str = Field(description="storage key of the pickled function")
    function: str = Field(description="module:qualname, for people")
    source_hash: str = ""
    kind: Literal["function", "class", "dataset", "spout"] = Field(
        "function",
        description="a class runs on a pool of actors: __init__ once per actor; a dataset "
        "function maps the job's new datums as one Ray Dataset to its output rows; a spout "
        "function runs for good, given a client and its output repo",
    )

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return check_code_key(v)


class Transform(_Spec):
    image: str | None = None
    cmd: list[str] = []
    stdin: list[str] = []
    err_cmd: list[str] = []
    err_stdin: list[str] = []
    env: dict[str, str] = {}
    accept_return_code: list[int] = []
    secrets: list[Secret] | None = None
    image_pull_secrets: list[str] | None = None
    datum_batching: bool | None = None
    debug: bool | None = None
    user: str | None = None
    working_dir: str | None = None
    dockerfile: str | None = None
    memory_volume: bool | None = None
    python: PythonCode | None = None
    # raypachy: files a command runs, hashed into the version (see raypachy.pps.codepaths).
    code_paths: list[str] = []
    code_hash: str = Field("", description="set by raypachy from code_paths")


class EgressFileFormat(_Spec):
    type: Literal["CSV", "JSON"] = "CSV"
    columns: list[str] = []


class EgressSecret(_Spec):
    name: str
    key: str


class SqlDatabaseEgress(_Spec):
    """``/pfs/out/<table>/*`` files loaded into ``<table>`` after each successful job."""

    url: str
    file_format: EgressFileFormat = EgressFileFormat()
    secret: EgressSecret | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError(f"egress sql_database url {v[:80]!r} is not a URL: give "
                             "postgresql://user@host:5432/database")  # fmt: skip
        return v


class ObjectStorageEgress(_Spec):
    url: str


_EGRESS_SCHEMES = ("s3://", "file://")


class Egress(_Spec):
    """Where a pipeline's output commit is mirrored after each successful job."""

    url: str | None = Field(None, alias="URL")
    object_storage: ObjectStorageEgress | None = None
    sql_database: SqlDatabaseEgress | None = None

    def target(self) -> str:
        """The URL of the mirror (object storage or a directory)."""
        url = self.url or (self.object_storage.url if self.object_storage else "")
        return url

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(_EGRESS_SCHEMES):
            raise ValueError(f"egress URL {v[:80]!r}: use s3://bucket/prefix or file:///dir "
                             "(or sql_database for a database)")  # fmt: skip
        return v


class PfsInput(_Spec):
    name: str = ""
    repo: str
    branch: str = "master"
    glob: str = "/"
    join_on: str = ""
    outer_join: bool = False
    group_by: str = ""
    lazy: bool = False
    empty_files: bool = False
    s3: bool | None = None
    trigger: dict[str, Any] | None = None
    project: str | None = None
    commit: str | None = None
    repo_type: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _qualified(cls, data: Any) -> Any:
        """``repo`` becomes the repo's key (``project/repo`` outside the default project)."""
        data = _split_key(data, "repo", "input repo")
        if isinstance(data, dict) and isinstance(data.get("repo"), str):
            project = _project_name(data.get("project"))
            if isinstance(project, str) and project not in ("", DEFAULT_PROJECT):
                return {**data, "repo": f"{check_project_name(project)}/{data['repo']}"}
        return data

    @field_validator("repo")
    @classmethod
    def _repo(cls, v: str) -> str:
        return check_repo_name(v)

    @field_validator("project", mode="before")
    @classmethod
    def _project(cls, v: Any) -> Any:
        return _project_name(v)

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        return check_branch_name(v)

    @field_validator("glob")
    @classmethod
    def _glob(cls, v: str) -> str:
        compile_glob(v)
        return v

    @property
    def input_name(self) -> str:
        """``/pfs/<input_name>``: the pfs.name, else the repo's plain name (as in Pachyderm)."""
        return self.name or self.repo.rpartition("/")[2]


class CronInput(_Spec):
    name: str
    spec: str
    repo: str = ""
    start: str | None = None
    overwrite: bool = False
    project: str | None = None

    @field_validator("spec")
    @classmethod
    def _schedule(cls, v: str) -> str:
        parse_schedule(v)
        return v

    @field_validator("start")
    @classmethod
    def _start(cls, v: str | None) -> str | None:
        if v is not None and parse_tick_name(v) is None:
            raise InvalidSpecError(
                f"cron start {v!r} is not an RFC 3339 time (2024-01-31T00:00:00Z)"
            )
        return v

    @field_validator("project", mode="before")
    @classmethod
    def _project(cls, v: Any) -> Any:
        return _project_name(v)


class Input(_Spec):
    pfs: PfsInput | None = None
    cron: CronInput | None = None
    cross: list[Input] | None = None
    union: list[Input] | None = None
    join: list[Input] | None = None
    group: list[Input] | None = None

    def kind(self) -> str:
        kinds = [
            k
            for k in ("pfs", "cron", "cross", "union", "join", "group")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise InvalidSpecError(
                f"an input needs exactly one of pfs, cron, cross, union, join, group; got {kinds}"
            )
        if getattr(self, kinds[0]) == []:
            raise InvalidSpecError(f"input.{kinds[0]} is empty: list the inputs it combines")
        return kinds[0]

    def is_empty(self) -> bool:
        """No input at all: a spout's (it reads nothing)."""
        return all(getattr(self, k) is None for k in type(self).model_fields)

    def leaves(self) -> list[PfsInput | CronInput]:
        if self.is_empty():
            return []
        kind = self.kind()
        if kind == "pfs":
            return [self.pfs]  # type: ignore[list-item]
        if kind == "cron":
            return [self.cron]  # type: ignore[list-item]
        children: list[Input] = getattr(self, kind)
        return [leaf for child in children for leaf in child.leaves()]


class Gpu(_Spec):
    type: str = ""
    number: int = 0


class Resources(_Spec):
    cpu: float | str | None = None
    memory: str | int | None = None
    gpu: Gpu | None = None
    disk: str | int | None = None

    def cpus(self) -> float | None:
        return None if self.cpu is None else parse_cpu(self.cpu)

    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_bytes(self.memory, "memory")


class RayOptions(_Spec):
    """raypachy's extension of the spec: Ray task options, with Ray's names."""

    runtime_env: dict[str, Any] = {}
    max_retries: int = Field(3, ge=0)
    allow_mutable_image: bool = False
    # Class pipelines: at most this many worker actors (0: as many as parallelism allows),
    # kept up this many seconds after a job so the next one starts warm (0: released).
    concurrency: int = Field(0, ge=0)
    keep_warm_s: float = Field(60.0, ge=0)


class ParallelismSpec(_Spec):
    constant: int = Field(0, ge=0)


class DatumSetSpec(_Spec):
    number: int = Field(0, ge=0)
    size_bytes: int = Field(0, ge=0)
    per_worker: int = Field(0, ge=0)


class SchedulingSpec(_Spec):
    node_selector: dict[str, str] = {}
    priority_class_name: str | None = None


class Metadata(_Spec):
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}


class PipelineSpec(_Spec):
    pipeline: PipelineName
    description: str = ""
    metadata: Metadata | None = None
    transform: Transform
    input: Input = Input()  # empty for a spout only
    parallelism_spec: ParallelismSpec | None = None
    resource_requests: Resources | None = None
    resource_limits: Resources | None = None
    scheduling_spec: SchedulingSpec | None = None
    datum_tries: int = Field(3, ge=1)
    datum_timeout: str | int | None = None
    job_timeout: str | int | None = None
    reprocess_spec: Literal["until_success", "every_job"] = "until_success"
    datum_set_spec: DatumSetSpec | None = None
    autoscaling: bool = False
    output_branch: str = "master"
    salt: str = ""
    ray: RayOptions | None = None
    # Pachyderm features accepted by the parser and refused by ``check_supported``.
    egress: Egress | None = None
    s3_out: bool | None = None
    service: ServiceSpec | None = None
    spout: SpoutSpec | None = None
    tf_job: dict[str, Any] | None = None
    pod_spec: str | None = None
    pod_patch: str | None = None
    tolerations: list[Any] | None = None
    sidecar_resource_limits: Resources | None = None
    sidecar_resource_requests: Resources | None = None
    determined: dict[str, Any] | None = None
    # Harmless Pachyderm fields that change nothing here.
    standby: bool | None = None
    enable_stats: bool | None = None
    cache_size: str | None = None
    max_queue_size: int | None = None
    spec_commit: dict[str, Any] | None = None
    reprocess: bool | None = None
    update: bool | None = None
    maximum_expected_uptime: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _inputs_in_its_project(cls, data: Any) -> Any:
        """An input that names no project reads the pipeline's project (as in Pachyderm)."""
        if not isinstance(data, dict):
            return data
        pipeline = _split_key(data.get("pipeline"), "name", "pipeline name")
        project = _project_name(pipeline.get("project")) if isinstance(pipeline, dict) else None
        if not isinstance(project, str) or project in ("", DEFAULT_PROJECT):
            return data
        return {**data, "input": _with_project(data.get("input"), project)}

    @property
    def name(self) -> str:
        """The pipeline's key (``project/name`` outside the default project)."""
        return self.pipeline.key

    def to_json(self) -> dict[str, Any]:
        """The canonical form: snake_case, without unset fields."""
        data: dict[str, Any] = self.model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        )
        data["pipeline"] = {"name": self.pipeline.name}
        if self.pipeline.key != self.pipeline.name:
            data["pipeline"]["project"] = {"name": self.pipeline.project}
        return data

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def datum_timeout_s(self) -> float | None:
        if self.datum_timeout is None:
            return None
        return parse_duration(self.datum_timeout, "datum_timeout")

    def job_timeout_s(self) -> float | None:
        return None if self.job_timeout is None else parse_duration(self.job_timeout, "job_timeout")


def _with_project(node: Any, project: str) -> Any:
    """An input tree whose pfs inputs without a project read ``project``."""
    if isinstance(node, list):
        return [_with_project(child, project) for child in node]
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for kind, child in node.items():
        if kind == "pfs" and isinstance(child, dict):
            repo = child.get("repo")
            if isinstance(repo, str) and "/" not in repo and child.get("project") in (None, ""):
                out[kind] = {**child, "project": project}
        elif kind in ("cross", "union", "join", "group"):
            out[kind] = _with_project(child, project)
    return out


def _unsupported(spec: PipelineSpec) -> list[str]:
    out = []
    for field, what in (
        ("tf_job", "tf_job"),
        ("pod_spec", "pod_spec"),
        ("pod_patch", "pod_patch"),
        ("determined", "determined"),
    ):
        if getattr(spec, field) not in (None, False):
            out.append(what)
    t = spec.transform
    for secret in t.secrets or []:
        if secret.mount_path and t.python is not None:
            out.append(f"transform.secrets mount_path for a Python function (secret "
                       f"{secret.name}: give it as an env var with key and env_var)")  # fmt: skip
    if t.datum_batching and t.python is not None:
        out.append("transform.datum_batching for a Python function (a class pipeline loads "
                   "its model once per worker: use one)")  # fmt: skip
    for leaf in spec.input.leaves():
        if isinstance(leaf, PfsInput) and leaf.commit:
            out.append(f"input.pfs.commit (pinned input commits) on {leaf.repo}")
    return out


def _leaf_name(leaf: PfsInput | CronInput) -> str:
    return leaf.input_name if isinstance(leaf, PfsInput) else leaf.name


def _check_names(pipeline: str, node: Input) -> set[str]:
    """The input names under ``node``; two inputs of one datum must not share a name.

    As in Pachyderm, the inputs of a union may share one (their files appear under one
    ``/pfs/<name>``, one at a time), while cross, join and group put their inputs side by
    side in a datum, so their names must differ.
    """
    kind = node.kind()
    if kind in ("pfs", "cron"):
        return {_leaf_name(node.leaves()[0])}
    children: list[Input] = getattr(node, kind)
    names = [_check_names(pipeline, child) for child in children]
    if kind != "union":
        seen: set[str] = set()
        for group in names:
            clash = sorted(group & seen)
            if clash:
                raise InvalidSpecError(
                    f"pipeline {pipeline}: input name {clash[0]!r} is used twice in one {kind}: "
                    "give each input a distinct pfs.name (only a union's inputs may share one)"
                )
            seen |= group
    return set().union(*names)


def check_supported(spec: PipelineSpec) -> PipelineSpec:
    """Refuse, in one line, the first Pachyderm feature raypachy does not run yet."""
    check_long_running(spec.name, spec.spout, spec.service, not spec.input.is_empty(),
                       spec.transform)  # fmt: skip
    problems = _unsupported(spec)
    if problems:
        raise InvalidSpecError(
            f"pipeline {spec.name}: {problems[0]} is not supported yet"
            + (f" (also: {', '.join(problems[1:])})" if problems[1:] else "")
        )
    for item in spec.transform.secrets or []:
        if not item.name or not ((item.key and item.env_var) or item.mount_path):
            raise InvalidSpecError(
                f"pipeline {spec.name}: each transform.secrets entry needs a name, and key with "
                "env_var (the value as an environment variable) or mount_path"
            )
        mount = item.mount_path
        if mount is not None and (
            not mount.startswith("/")
            or mount.rstrip("/") in ("", "/pfs")
            or mount.startswith("/pfs/")
            or ".." in mount.split("/")
        ):
            raise InvalidSpecError(
                f"pipeline {spec.name}: transform.secrets mount_path {mount[:80]!r} must be an "
                "absolute directory outside /pfs"
            )
        if item.env_var and not _ENV_NAME.fullmatch(item.env_var):
            raise InvalidSpecError(
                f"pipeline {spec.name}: transform.secrets env_var {item.env_var[:80]!r} is not "
                "an environment variable name"
            )
    ray_env = spec.ray.runtime_env.get("env_vars") if spec.ray else None
    envs = [("transform.env", spec.transform.env)]
    envs += [("ray.runtime_env.env_vars", ray_env)] if isinstance(ray_env, dict) else []
    for where, env in envs:
        secret = [str(k) for k, v in env.items() if looks_secret(str(k), str(v))]
        if secret:
            raise InvalidSpecError(
                f"pipeline {spec.name}: {where} {secret[0]} looks like a secret, and raypachy "
                "does not store secrets in specs: set it in the workers' environment instead "
                "(e.g. from a Kubernetes Secret)"
            )
    python = spec.transform.python
    pool_options = sorted(
        {"concurrency", "keep_warm_s"} & (spec.ray.model_fields_set if spec.ray else set())
    )
    if python is not None and python.kind == "dataset":
        _check_dataset(spec, pool_options)
    if pool_options and (python is None or python.kind != "class"):
        raise InvalidSpecError(
            f"pipeline {spec.name}: ray.{pool_options[0]} sizes the actor pool of a class "
            "pipeline: decorate a class, or use parallelism_spec for a function or command"
        )
    if not spec.transform.cmd and spec.transform.python is None:
        raise InvalidSpecError(
            f"pipeline {spec.name}: transform.cmd is empty: give a command to run"
        )
    for name in _check_names(spec.name, spec.input) if spec.spout is None else ():
        try:
            check_input_name(name)
        except InvalidSpecError as e:
            raise InvalidSpecError(f"pipeline {spec.name}: {e}") from None
    for leaf in spec.input.leaves():
        if isinstance(leaf, PfsInput) and leaf.s3 and clean_pattern(leaf.glob) != "/":
            raise InvalidSpecError(
                f"pipeline {spec.name}: input {leaf.input_name} has s3: true, so its bucket "
                f"serves the whole commit as one datum: set its glob to '/' (not {leaf.glob!r})"
            )
    for leaf in spec.input.leaves():
        if isinstance(leaf, PfsInput) and leaf.repo == spec.name:
            raise InvalidSpecError(f"pipeline {spec.name} cannot read its own output repo")
    try:
        for res in (spec.resource_requests, spec.resource_limits):
            if res is not None:
                res.cpus()
                res.memory_bytes()
        spec.datum_timeout_s()
        spec.job_timeout_s()
        check_branch_name(spec.output_branch)
        check_pod_fields(spec)  # tolerations, metadata, priority class: its own worker group
    except InvalidSpecError as e:
        raise InvalidSpecError(f"pipeline {spec.name}: {e}") from None
    return spec


def _check_dataset(spec: PipelineSpec, pool_options: list[str]) -> None:
    """A dataset pipeline says in its own code where actors and GPUs go (``map_batches``)."""
    req, lim = spec.resource_requests, spec.resource_limits
    gpu = any(r is not None and r.gpu is not None and r.gpu.number for r in (req, lim))
    where = f"ray.{pool_options[0]}" if pool_options else "a GPU request" if gpu else ""
    if where:
        raise InvalidSpecError(
            f"pipeline {spec.name}: {where} does not apply to a dataset pipeline: ask for "
            "actors and GPUs where the dataset uses them, ds.map_batches(Model, "
            "concurrency=2, num_gpus=1)"
        )
    per_datum = sorted(
        {"parallelism_spec", "datum_tries", "datum_timeout", "datum_set_spec"}
        & spec.model_fields_set
    )
    if per_datum:
        raise InvalidSpecError(
            f"pipeline {spec.name}: {per_datum[0]} does not apply to a dataset pipeline (one "
            "Ray Data run per job, spread by Ray Data): drop it"
        )
    if spec.transform.secrets:
        raise InvalidSpecError(
            f"pipeline {spec.name}: transform.secrets is not supported for a dataset pipeline "
            "yet: give the workers the value in their environment"
        )
    if spec.s3_out or any(isinstance(x, PfsInput) and x.s3 for x in spec.input.leaves()):
        raise InvalidSpecError(
            f"pipeline {spec.name}: a dataset pipeline reads its datums as rows and writes "
            "rows: drop input.pfs.s3 and s3_out"
        )


def _known_fields(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(name)
        if info.alias:
            names.append(info.alias)
    return names


def _describe(error: ValidationError, model: type[BaseModel]) -> str:
    # A misspelt field also makes the real one "missing": name the misspelling first.
    err = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc)
    if err["type"] == "extra_forbidden":
        # Walk the models along the path to suggest the field that was meant.
        current: Any = model
        for part in loc[:-1]:
            if part.isdigit() or current is None:
                continue
            fields = {
                **current.model_fields,
                **{f.alias: f for f in current.model_fields.values() if f.alias},
            }
            info = fields.get(part)
            current = _model_of(info.annotation) if info else None
        hint = ""
        if current is not None:
            close = difflib.get_close_matches(loc[-1], _known_fields(current), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {path!r} in the pipeline spec{hint}"
    if err["type"] == "missing":
        return f"missing field {path!r} in the pipeline spec"
    message = err["msg"].removeprefix("Value error, ")
    return f"invalid {path!r} in the pipeline spec: {message}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _depth(data: Any) -> int:
    """How deeply objects and lists nest (iteratively: a deep spec cannot blow the stack)."""
    deepest = 0
    todo = [(data, 1)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_SPEC_DEPTH:
            break
        todo.extend((child, level + 1) for child in children)
    return deepest


def parse_spec(data: Any) -> PipelineSpec:
    """Validate one spec (a dict as read from JSON or YAML)."""
    if not isinstance(data, dict):
        raise InvalidSpecError(f"a pipeline spec is a JSON/YAML object, not {type(data).__name__}")
    if _depth(data) > MAX_SPEC_DEPTH:
        raise InvalidSpecError(
            f"the pipeline spec nests objects and lists more than {MAX_SPEC_DEPTH} levels deep: "
            "flatten its inputs"
        )
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as e:
        name = (
            (data.get("pipeline") or {}).get("name")
            if isinstance(data.get("pipeline"), dict)
            else None
        )
        prefix = f"pipeline {name}: " if name else ""
        raise InvalidSpecError(prefix + _describe(e, PipelineSpec)) from None
    except InvalidSpecError:
        raise
    except ValueError as e:
        raise InvalidSpecError(str(e)) from None
    _check_egress(spec)
    return check_supported(spec)


def _check_egress(spec: PipelineSpec) -> None:
    egress = spec.egress
    if egress is None:
        return
    kinds = [k for k in ("URL", "object_storage", "sql_database")
             if getattr(egress, "url" if k == "URL" else k) is not None]  # fmt: skip
    if len(kinds) != 1:
        raise InvalidSpecError(
            f"pipeline {spec.name}: egress needs exactly one of URL, object_storage or "
            f"sql_database (got {', '.join(kinds) or 'none'})"
        )
    target = egress.target()
    if egress.sql_database is None and not target.startswith(_EGRESS_SCHEMES):
        raise InvalidSpecError(f"pipeline {spec.name}: egress URL {target[:80]!r}: use "
                               "s3://bucket/prefix or file:///dir")  # fmt: skip


def read_specs(text: str) -> list[PipelineSpec]:
    """Every spec in a file: JSON or YAML, ``---``-separated documents, or a list of specs."""
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidSpecError(f"the spec file is not valid JSON or YAML{where}") from None
    specs: list[Any] = []
    for doc in docs:
        specs.extend(doc if isinstance(doc, list) else [doc])
    if not specs:
        raise InvalidSpecError("the spec file holds no pipeline spec")
    return [parse_spec(s) for s in specs]
