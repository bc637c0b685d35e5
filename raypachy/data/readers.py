"""Reading versioned data into Ray Data: ``read_files`` and the file-format readers.

Every reader resolves ``repo@ref:/glob`` once, so the whole dataset comes from one commit,
and remembers that commit: ``provenance_of(ds)`` finds the commits any dataset derived
from these reads came from (for ``Datasink(provenance=...)``).
"""

from __future__ import annotations

import weakref
from typing import Any

import ray.data

from raypachy.data.datasource import FilesDatasource
from raypachy.data.selection import Selection, select
from raypachy.pfs.model import CommitRef

# The source operator of each dataset read here -> the commit it read. Logical operators
# are shared by every dataset derived from them, so a lineage walk finds them.
_SOURCES: weakref.WeakKeyDictionary[Any, CommitRef] = weakref.WeakKeyDictionary()


def _client(client: Any, address: str | None) -> Any:
    if client is not None:
        return client
    from raypachy.client import connect

    return connect(address)


def _remember(ds: ray.data.Dataset, commit: CommitRef) -> ray.data.Dataset:
    _SOURCES[ds._logical_plan.dag] = commit
    return ds


def provenance_of(ds: ray.data.Dataset) -> tuple[CommitRef, ...]:
    """The commits a dataset was read from through ``raypachy.data`` (in lineage order)."""
    found: dict[CommitRef, None] = {}
    stack = [ds._logical_plan.dag]
    seen: set[int] = set()
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        commit = _SOURCES.get(op)
        if commit is not None:
            found[commit] = None
        stack.extend(op.input_dependencies)
    return tuple(found)


def read_files(
    spec: str, *, address: str | None = None, client: Any = None, **read_args: Any
) -> ray.data.Dataset:
    """One row per file matched by ``repo@ref:/glob``: ``path``, ``bytes``, ``commit``.

    Read tasks run on the workers and read chunks straight from storage. ``read_args`` go
    to ``ray.data.read_datasource`` (``override_num_blocks``, ``ray_remote_args``...).
    """
    c = _client(client, address)
    selection = select(c, spec)
    source = FilesDatasource(selection, c.storage_uri, c.address)
    return _remember(ray.data.read_datasource(source, **read_args), selection.commit)


def _through_fs(reader: Any, spec: str, address: str | None, client: Any, **kw: Any) -> Any:
    from raypachy.fs import RaypachyFileSystem

    c = _client(client, address)
    selection: Selection = select(c, spec)
    fs = RaypachyFileSystem(address=c.address)
    ds = reader(selection.fs_paths(), filesystem=fs, **kw)
    return _remember(ds, selection.commit)


def read_parquet(
    spec: str, *, address: str | None = None, client: Any = None, **kwargs: Any
) -> ray.data.Dataset:
    """``ray.data.read_parquet`` of the files ``repo@ref:/glob`` matches, from one commit."""
    return _through_fs(ray.data.read_parquet, spec, address, client, **kwargs)


def read_csv(
    spec: str, *, address: str | None = None, client: Any = None, **kwargs: Any
) -> ray.data.Dataset:
    """``ray.data.read_csv`` of the files ``repo@ref:/glob`` matches, from one commit."""
    return _through_fs(ray.data.read_csv, spec, address, client, **kwargs)


def read_images(
    spec: str, *, address: str | None = None, client: Any = None, **kwargs: Any
) -> ray.data.Dataset:
    """``ray.data.read_images`` of the files ``repo@ref:/glob`` matches, from one commit."""
    return _through_fs(ray.data.read_images, spec, address, client, **kwargs)
