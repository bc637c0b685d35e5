"""A path's history along a branch: the versions of a file, and the commits that changed it
(``list file --history``, ``find commit``), newest first."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from raypachy.errors import PathNotFoundError
from raypachy.pfs import files
from raypachy.pfs.metadata import CommitRecord
from raypachy.pfs.model import FileInfo
from raypachy.storage.tree import Tree

TreeOf = Callable[[CommitRecord], Tree]


def _at(tree: Tree, path: str, rec: CommitRecord) -> FileInfo | None:
    try:
        return files.inspect(tree, path, rec.ref)
    except PathNotFoundError:
        return None


def changes(
    chain: list[CommitRecord], tree_of: TreeOf, path: str
) -> Iterator[tuple[CommitRecord, FileInfo | None]]:
    """Each commit of ``chain`` (a branch's history, newest first) that changed ``path``,
    with what it left there (None: it deleted the path). A commit changed the path when the
    path's hash (a directory's covers its files) differs from its parent's."""
    infos = (_at(tree_of(rec), path, rec) for rec in chain)
    newer_rec: CommitRecord | None = None
    newer: FileInfo | None = None
    for rec, info in zip(chain, infos, strict=True):
        if newer_rec is not None and _hash(newer) != _hash(info):
            yield newer_rec, newer
        newer_rec, newer = rec, info
    if newer_rec is not None and newer is not None:
        yield newer_rec, newer  # the oldest commit wrote whatever it holds


def _hash(info: FileInfo | None) -> str | None:
    return None if info is None else f"{info.type}:{info.hash}"


def versions(chain: list[CommitRecord], tree_of: TreeOf, path: str, limit: int) -> list[FileInfo]:
    """At most ``limit`` (-1: all) versions of ``path``, newest first, each naming the commit
    that wrote it (deletions are not versions)."""
    out: list[FileInfo] = []
    for _rec, info in changes(chain, tree_of, path):
        if limit >= 0 and len(out) >= limit:
            break
        if info is not None:
            out.append(info)
    return out
