"""Python transforms as data: pickled by value, stored content-addressed, versioned by source.

The function (and the module it lives in) is pickled with cloudpickle by value, so the
cluster runs it without the user's process or an importable module. The pipeline version
hashes the spec and the function's source, so changing the code is a new version without
anyone editing an image tag.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import blake3
import cloudpickle


def pickle_function(fn: Callable[..., Any]) -> bytes:
    module = sys.modules.get(fn.__module__)
    by_value = module is not None and fn.__module__ not in ("__main__", "builtins")
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        data: bytes = cloudpickle.dumps(fn, protocol=5)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)
    return data


def unpickle_function(data: bytes) -> Callable[..., Any]:
    fn: Callable[..., Any] = cloudpickle.loads(data)
    return fn


def source_hash(fn: Callable[..., Any]) -> str:
    """A hash of the code a run depends on: the whole module's source when it can be read."""
    module = sys.modules.get(fn.__module__)
    try:
        text = inspect.getsource(module) if module is not None else inspect.getsource(fn)
    except (OSError, TypeError):
        try:
            text = inspect.getsource(fn)
        except (OSError, TypeError):
            return blake3.blake3(pickle_function(fn)).hexdigest()
    return blake3.blake3(text.encode()).hexdigest()


def function_label(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"
