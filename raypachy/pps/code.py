"""Python transforms as data: pickled by value, stored content-addressed, versioned by source.

The function (and the module it lives in) is pickled with cloudpickle by value, so the
cluster runs it without the user's process or an importable module. The pipeline version
hashes the spec and the function's source, so changing the code is a new version without
anyone editing an image tag.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import blake3
import cloudpickle


def _user_modules(fn: Callable[..., Any]) -> list[ModuleType]:
    """The function's module and the modules beside it (its project), not installed packages.

    They are pickled by value, so workers need neither the user's files nor their path.
    """
    module = sys.modules.get(fn.__module__)
    home = getattr(module, "__file__", None)
    if module is None or home is None or fn.__module__ == "__main__":
        return []
    root = os.path.dirname(os.path.abspath(home))
    found = []
    for name, other in list(sys.modules.items()):
        path = getattr(other, "__file__", None)
        if not path or name == "__main__" or "site-packages" in path:
            continue
        if os.path.abspath(path).startswith(root + os.sep):
            found.append(other)
    return found


def pickle_function(fn: Callable[..., Any]) -> bytes:
    modules = _user_modules(fn)
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        data: bytes = cloudpickle.dumps(fn, protocol=5)
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)
    return data


def unpickle_function(data: bytes) -> Callable[..., Any]:
    fn: Callable[..., Any] = cloudpickle.loads(data)
    return fn


def source_hash(fn: Callable[..., Any]) -> str:
    """A hash of the code a run depends on: the sources of the function's project modules
    (its own module and the modules beside it), or of the function alone."""
    h = blake3.blake3()
    modules = sorted(_user_modules(fn), key=lambda m: m.__name__)
    try:
        for module in modules:
            h.update(module.__name__.encode() + b"\x00" + inspect.getsource(module).encode())
        if not modules:
            h.update(inspect.getsource(fn).encode())
    except (OSError, TypeError):
        return blake3.blake3(pickle_function(fn)).hexdigest()
    return h.hexdigest()


def function_label(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__.removeprefix('raypachy_user_')}:{fn.__qualname__}"
