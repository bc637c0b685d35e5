"""Python transforms as data: pickled by value, stored content-addressed, versioned by source.

The function (and the module it lives in) is pickled with cloudpickle by value, so the
cluster runs it without the user's process or an importable module. The pipeline version
hashes the spec and the function's source, so changing the code is a new version without
anyone editing an image tag.

The source files of the pickled code travel with it: cloudpickle (3.1+) renames every code
object ``<dynamic-code>``, and a worker has no copy of the user's files, so a failing
transform's traceback would name no file and show no line. Each code object keeps its file
name, and the worker registers the shipped sources with ``linecache``.
"""

from __future__ import annotations

import inspect
import io
import linecache
import os
import pickle
import sys
import types
from collections.abc import Callable
from types import ModuleType
from typing import Any

import blake3
import cloudpickle

_ENVELOPE = "raypachy-code/1"  # (tag, the cloudpickled function, {file name: source})
_DYNAMIC = "<dynamic-code>"


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


def _named_code(code: types.CodeType, filename: str) -> types.CodeType:
    """A code object given back the file name it had where it was pickled."""
    return code.replace(co_filename=filename)


class _SourcePickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle's pickler, keeping each code object's file name (and noting the files)."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=5)
        self.filenames: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.CodeType):
            if obj.co_filename == _DYNAMIC:
                return NotImplemented  # cloudpickle's own reduction of the renamed copy
            self.filenames.add(obj.co_filename)
            return _named_code, (obj.replace(co_filename=_DYNAMIC), obj.co_filename)
        return super().reducer_override(obj)


def pickle_function(fn: Callable[..., Any]) -> bytes:
    """The function by value, with the sources of the files its code comes from."""
    modules = _user_modules(fn)
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        buffer = io.BytesIO()
        pickler = _SourcePickler(buffer)
        pickler.dump(fn)
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)
    sources = {}
    for filename in sorted(pickler.filenames):
        text = "".join(linecache.getlines(filename))
        if text:
            sources[filename] = text
    return pickle.dumps((_ENVELOPE, buffer.getvalue(), sources), protocol=5)


def unpickle_function(data: bytes) -> Callable[..., Any]:
    """The function, its sources registered with ``linecache`` for tracebacks."""
    loaded = pickle.loads(data)
    if not (isinstance(loaded, tuple) and loaded and loaded[0] == _ENVELOPE):
        return loaded  # type: ignore[no-any-return]  # stored before sources travelled along
    _, code, sources = loaded
    for filename, text in sources.items():
        # No mtime: linecache.checkcache keeps the entry even where the file does not exist.
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    fn: Callable[..., Any] = cloudpickle.loads(code)
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
