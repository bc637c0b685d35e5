"""Pipeline templates: a Jsonnet file evaluated into specs, as ``pachctl create pipeline
--jsonnet FILE --arg k=v`` does (each ``--arg`` a top-level argument of the template, a
string). The ``jsonnet`` package evaluates it; the result is one spec or a list of specs."""

from __future__ import annotations

from raypachy.errors import InvalidSpecError


def parse_args(args: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; one line naming an argument without ``=``."""
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise InvalidSpecError(f"--arg {arg!r} must be of the form param=value")
        out[key] = value
    return out


def render_jsonnet(path: str, args: dict[str, str]) -> str:
    """The JSON text the template at ``path`` evaluates to with top-level ``args``."""
    import _jsonnet  # type: ignore[import-untyped]  # the jsonnet package's module (a C extension; only the CLI needs it)

    try:
        return str(_jsonnet.evaluate_file(path, tla_vars=args))
    except RuntimeError as e:  # jsonnet reports every problem so: keep its first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else "evaluation failed"
        raise InvalidSpecError(f"jsonnet template {path}: {first}") from None
