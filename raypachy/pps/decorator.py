"""``@raypachy.pipeline``: a Python function as a Pachyderm pipeline, with Ray's words.

    @raypachy.pipeline(input=raypachy.pfs("iris", glob="/raw/*"), num_cpus=1, memory="2Gi",
                       parallelism=4)
    def train(datum):
        for path in datum.inputs["iris"].rglob("*.csv"): ...
        (datum.out / "model.pkl").write_bytes(...)

With ``dataset=True``, the function takes and returns a ``ray.data.Dataset``: it gets the
job's new and changed datums as rows (``datum_id``, ``input``, ``path``, ``bytes``), and each
row it returns (``datum_id``, ``path``, ``bytes``) is one output file of that datum::

    @raypachy.pipeline(input=raypachy.pfs("images", glob="/*"), dataset=True)
    def embed(ds):
        return ds.map_batches(Embedder, concurrency=2, num_gpus=1)

On a class, ``__init__`` runs once per worker (load a model there) and ``__call__(self,
datum)`` once per datum; ``setup_job(self, job)`` and ``finish_job(self, job)`` are optional
hooks around each job's datums. Its datums run on a pool of at most ``concurrency`` Ray
actors, kept warm ``keep_warm_s`` seconds after a job::

    @raypachy.pipeline(input=raypachy.pfs("images", glob="/*"), num_gpus=1, concurrency=2)
    class Classify:
        def __init__(self):
            self.model = load_model()
        def __call__(self, datum): ...

The decorator records; it never touches Ray. Options are checked against one declarative
table (as ``@ray.remote`` checks its own), the function keeps its name and docstring, and
``.options(...)`` returns a copy with some options changed. Both this and a spec file give
the same ``PipelineSpec``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from raypachy.errors import InvalidSpecError
from raypachy.pps.code import function_label, pickle_function, source_hash
from raypachy.pps.spec import Input, PipelineSpec, PythonCode, check_supported
from raypachy.pps.units import parse_bytes, parse_cpu, parse_duration


@dataclass(frozen=True, slots=True)
class Option:
    """One decorator option: what it accepts and where it goes in the spec."""

    types: tuple[type, ...]
    path: tuple[str, ...]
    check: Callable[[Any], object] | None = None
    doc: str = ""


def _positive(value: Any) -> None:
    if value < 0:
        raise ValueError("must be >= 0")


def _at_least_one(value: Any) -> None:
    if value < 1:
        raise ValueError("must be >= 1")


OPTIONS: dict[str, Option] = {
    "input": Option((Input,), ("input",), doc="what the pipeline reads (raypachy.pfs(...))"),
    "name": Option((str,), ("pipeline", "name"), doc="pipeline and output repo name"),
    "description": Option((str,), ("description",)),
    "num_cpus": Option(
        (int, float, str), ("resource_requests", "cpu"), parse_cpu, "CPUs per datum task"
    ),
    "memory": Option((int, str), ("resource_requests", "memory"), parse_bytes, "bytes or 4Gi"),
    "num_gpus": Option((int,), ("resource_requests", "gpu", "number"), _positive, "GPUs per task"),
    "accelerator_type": Option((str,), ("resource_requests", "gpu", "type"), doc="e.g. A100"),
    "label_selector": Option((dict,), ("scheduling_spec", "node_selector"), doc="node labels"),
    "parallelism": Option(
        (int,), ("parallelism_spec", "constant"), _at_least_one, "datum batches in flight"
    ),
    "image": Option((str,), ("transform", "image"), doc="container image (runtime_env image_uri)"),
    "env": Option((dict,), ("transform", "env"), doc="environment variables"),
    "datum_tries": Option((int,), ("datum_tries",), _at_least_one),
    "datum_timeout": Option((str, int, float), ("datum_timeout",), parse_duration),
    "job_timeout": Option((str, int, float), ("job_timeout",), parse_duration),
    "output_branch": Option((str,), ("output_branch",)),
    "autoscaling": Option((bool,), ("autoscaling",)),
    "reprocess_spec": Option((str,), ("reprocess_spec",)),
    "datum_set_number": Option(
        (int,), ("datum_set_spec", "number"), _at_least_one, "datums per batch"
    ),
    "salt": Option((str,), ("salt",)),
    "egress": Option(
        (dict,), ("egress",), doc='where each output commit goes: {"URL": "s3://b/p"} or sql'
    ),
    "runtime_env": Option((dict,), ("ray", "runtime_env"), doc="Ray runtime_env for datum tasks"),
    "max_retries": Option((int,), ("ray", "max_retries"), _positive, "retries if a worker dies"),
    "allow_mutable_image": Option((bool,), ("ray", "allow_mutable_image")),
    "concurrency": Option(
        (int,), ("ray", "concurrency"), _at_least_one, "worker actors of a class pipeline"
    ),
    "keep_warm_s": Option(
        (int, float), ("ray", "keep_warm_s"), _positive, "seconds a class's pool outlives a job"
    ),
    "dataset": Option(
        (bool,), ("transform", "python", "kind"), doc="f(ds) -> ds over the job's new datums"
    ),
    "spout": Option((bool,), ("spout",), doc="f(client, repo) runs for good (@raypachy.spout)"),
}

_CLASS_ONLY = ("concurrency", "keep_warm_s")


def _check(options: dict[str, Any]) -> dict[str, Any]:
    for key, value in options.items():
        option = OPTIONS.get(key)
        if option is None:
            close = difflib.get_close_matches(key, OPTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidSpecError(f"unknown pipeline option {key!r}{hint}")
        if value is None:
            continue
        if not isinstance(value, option.types) or (
            isinstance(value, bool) and bool not in option.types
        ):
            names = " or ".join(t.__name__ for t in option.types)
            raise InvalidSpecError(f"pipeline option {key}={value!r}: expected {names}")
        if option.check is not None:
            try:
                option.check(value)
            except (ValueError, InvalidSpecError) as e:
                raise InvalidSpecError(f"pipeline option {key}={value!r}: {e}") from None
    return options


class Pipeline:
    """A decorated function (or class): call it to run one datum locally (a class: to make
    an instance); register it to run on data."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        if not callable(fn):
            raise InvalidSpecError(f"@raypachy.pipeline decorates a function, not {fn!r}")
        self.fn = fn
        self._options = _check(dict(options))
        if self._options.get("spout") and (isinstance(fn, type) or "input" in self._options):
            raise InvalidSpecError(
                f"@raypachy.spout takes a function f(client, repo) and no input, not "
                f"{'the class ' + fn.__name__ if isinstance(fn, type) else 'an input'}"
            )
        if self._options.get("dataset") and isinstance(fn, type):
            raise InvalidSpecError(
                f"dataset=True takes a function f(ds) -> ds, not the class {fn.__name__}: "
                "use the class inside it, ds.map_batches(Class, concurrency=2)"
            )
        if isinstance(fn, type):
            if not any("__call__" in vars(base) for base in fn.__mro__):
                raise InvalidSpecError(
                    f"pipeline class {fn.__name__} has no __call__(self, datum): "
                    "define it to process one datum"
                )
        else:
            extra = [k for k in _CLASS_ONLY if self._options.get(k) is not None]
            if extra and self._options.get("dataset"):
                raise InvalidSpecError(
                    f"pipeline option {extra[0]} does not apply to the dataset pipeline "
                    f"{self.name}: give it to map_batches inside, ds.map_batches(Model, "
                    "concurrency=2)"
                )
            if extra:
                raise InvalidSpecError(
                    f"pipeline option {extra[0]} sizes the actor pool of a class pipeline: "
                    f"decorate a class, or use parallelism= for the function {self.name}"
                )
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        name: str = self._options.get("name") or self.fn.__name__.replace(".", "_")
        return name

    @property
    def kind(self) -> Literal["function", "class", "dataset", "spout"]:
        """``function`` (one datum per call), ``class`` (an actor pool), ``dataset`` or
        ``spout`` (runs for good)."""
        if isinstance(self.fn, type):
            return "class"
        if self._options.get("spout"):
            return "spout"
        return "dataset" if self._options.get("dataset") else "function"

    def options(self, **options: Any) -> Pipeline:
        """A copy with some options changed (like ``RemoteFunction.options``)."""
        return Pipeline(self.fn, {**self._options, **_check(options)})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<raypachy.pipeline {self.name} ({function_label(self.fn)})>"

    def spec_dict(self, code_key: str = "") -> dict[str, Any]:
        """The spec as a dict, with the code's storage key once it is stored."""
        data: dict[str, Any] = {"pipeline": {"name": self.name}, "transform": {}}
        if self.fn.__doc__ and "description" not in self._options:
            data["description"] = self.fn.__doc__.strip().splitlines()[0]
        for key, value in self._options.items():
            if value is None or key in ("name", "dataset", "spout"):
                continue
            node = data
            path = OPTIONS[key].path
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value.model_dump(exclude_defaults=True) if key == "input" else value
        if self._options.get("spout"):
            data["spout"] = {}
        data["transform"]["python"] = PythonCode(
            code=code_key,
            function=function_label(self.fn),
            source_hash=source_hash(self.fn),
            kind=self.kind,
        ).model_dump(exclude_defaults=True)
        return data

    def build(self, code_key: str = "") -> PipelineSpec:
        """The validated spec (``InvalidSpecError`` names what is wrong)."""
        if "input" not in self._options and not self._options.get("spout"):
            raise InvalidSpecError(
                f"pipeline {self.name} has no input: "
                "use @raypachy.pipeline(input=raypachy.pfs(...))"
            )
        from raypachy.pps.spec import parse_spec

        return check_supported(parse_spec(self.spec_dict(code_key)))

    def code(self) -> bytes:
        """The function, pickled by value (what the cluster runs)."""
        return pickle_function(self.fn)


def pipeline(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Turn a function of one datum into a pipeline; works bare or with options."""
    if fn is not None:
        return Pipeline(fn, options)
    _check(options)
    return lambda f: Pipeline(f, options)


def spout(fn: Callable[..., Any] | None = None, /, *, output: str | None = None,
          **options: Any) -> Any:  # fmt: skip
    """A spout: ``fn(client, repo)`` runs for good on a restartable Ray actor and commits to
    its output repo ``repo`` (named ``output``, default the function's name) with ``client``,
    a connected ``raypachy.Client``; pipelines reading that repo run on its commits::

        @raypachy.spout(output="events")
        def poll(client, repo):
            while True:
                client.put_file(f"{repo}@master", f"/{time.time_ns()}.json", fetch())
                time.sleep(60)
    """
    options = {**options, "spout": True, **({"name": output} if output else {})}
    if fn is not None:
        return Pipeline(fn, options)
    _check(options)
    return lambda f: Pipeline(f, options)


def spec_of(pipeline: Any, store_code: Callable[[bytes], str]) -> dict[str, Any]:
    """A spec dict from a spec dict, a ``PipelineSpec`` or a ``@raypachy.pipeline``
    function (whose pickled code ``store_code`` stores, returning its key)."""
    if isinstance(pipeline, Pipeline):
        return pipeline.build(store_code(pipeline.code())).to_json()
    if isinstance(pipeline, PipelineSpec):
        return pipeline.to_json()
    if isinstance(pipeline, dict):
        return pipeline
    raise InvalidSpecError(
        f"a pipeline is a spec dict, a PipelineSpec or a @raypachy.pipeline function, "
        f"not {type(pipeline).__name__}"
    )


def preview_spec(pipeline: Any) -> dict[str, Any]:
    """The spec a datum preview reads: a function's code is not stored (nothing runs)."""
    if isinstance(pipeline, Pipeline):
        return pipeline.spec_dict("0" * 64)
    return spec_of(pipeline, lambda _: "")
