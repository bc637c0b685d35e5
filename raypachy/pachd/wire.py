"""Results on the wire: domain objects to JSON and back, by their type annotations.

The server encodes what a verb returns with ``encode``; the client decodes the JSON with
``decode(return type of the verb, data)``. Frozen dataclasses, lists, tuples, optionals,
datetimes, enums and plain JSON values need no code of their own; the few wire forms kept
for compatibility (a file's chunk references) have a codec here.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from raypachy.pfs.model import to_json as encode

__all__ = ["decode", "decode_result", "encode", "encode_result"]


def _file_refs_to_json(found: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "path": path,
            "size": data.size,
            "hash": data.hash.hex(),
            "refs": [[r.chunk.hex(), r.offset, r.length] for r in data.refs],
        }
        for path, data in found
    ]


def _file_refs_from_json(found: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    from raypachy.storage.entries import ChunkRef, FileData

    return [
        (
            d["path"],
            FileData(
                d["size"],
                bytes.fromhex(d["hash"]),
                tuple(ChunkRef(bytes.fromhex(c), o, n) for c, o, n in d["refs"]),
            ),
        )
        for d in found
    ]


#: Verbs whose results keep a wire form of their own: name -> (encode, decode).
_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "walk_data": (_file_refs_to_json, _file_refs_from_json),
}


def encode_result(verb: str, result: Any) -> Any:
    """A verb's result as JSON values."""
    codec = _CODECS.get(verb)
    return codec[0](result) if codec else encode(result)


def decode_result(verb: str, data: Any) -> Any:
    """A verb's result from its JSON form (the verb's return annotation says the type)."""
    codec = _CODECS.get(verb)
    if codec:
        return codec[1](data)
    return decode(_return_type(verb), data)


@functools.cache
def _return_type(verb: str) -> Any:
    from raypachy.pachd.api import verb_hints

    return verb_hints(verb)["return"]


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def decode(tp: Any, data: Any) -> Any:
    """``data`` (JSON values) as an instance of the type ``tp``."""
    if data is None or tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return decode(options[0], data) if len(options) == 1 else data
    if origin is typing.Literal:
        return data
    if origin in (list, Iterator):
        (item,) = typing.get_args(tp)
        return [decode(item, x) for x in data]
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], x) for x in data)
        return tuple(decode(a, x) for a, x in zip(args, data, strict=True))
    if origin is dict or tp is dict:
        return dict(data)
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return tp(**{name: decode(t, data[name]) for name, t in _fields(tp) if name in data})
        if issubclass(tp, datetime):
            return datetime.fromisoformat(data)
        if issubclass(tp, enum.Enum):
            return tp(data)
        if tp is bytes:
            return bytes.fromhex(data)
    return data
