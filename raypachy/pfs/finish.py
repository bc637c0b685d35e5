"""Finishing a commit: fold its staged layers into one, count its files, compact.

Everything here costs in proportion to the change: the parent's tree is only consulted
by point lookups and by scans of directories the change deletes.
"""

from __future__ import annotations

from dataclasses import dataclass

from raypachy.errors import InvalidPathError
from raypachy.storage.compaction import compact
from raypachy.storage.entries import Entry, Op
from raypachy.storage.manifest import ManifestInfo, ManifestStore
from raypachy.storage.tree import Tree, ancestor_dirs, merge_layers


@dataclass(frozen=True, slots=True)
class FinishedTree:
    layers: tuple[ManifestInfo, ...]
    size_bytes: int
    file_count: int


def directory_in_the_way(path: str) -> InvalidPathError:
    """The error for a file put where the commit has a directory."""
    return InvalidPathError(
        f"cannot put file {path}: it is a directory in this commit; delete it first"
    )


def fold_staged(store: ManifestStore, staged: tuple[ManifestInfo, ...]) -> ManifestInfo | None:
    """One layer equivalent to the staged layers, or None when nothing was staged."""
    staged = tuple(m for m in staged if m.rows > 0)
    if not staged:
        return None
    if len(staged) == 1:
        return staged[0]
    return store.put(merge_layers([store.open(m.id) for m in staged], bottom=False))


def delta_stats(parent: Tree, delta: list[Entry]) -> tuple[int, int]:
    """(bytes, files) that ``delta`` adds on top of ``parent`` (negative when it removes)."""
    size = count = 0
    deleted_dirs: list[str] = []
    for entry in delta:
        while deleted_dirs and not entry.path.startswith(deleted_dirs[-1]):
            deleted_dirs.pop()
        hidden = bool(deleted_dirs)  # the parent's files here are already subtracted
        if entry.is_dir_delete:
            if not hidden:
                for _, data in parent.scan(entry.path):
                    size -= data.size
                    count -= 1
            deleted_dirs.append(entry.path)
            continue
        old = None if hidden else parent.lookup(entry.path)
        if entry.op is Op.DELETE:
            if old is not None:
                size -= old.size
                count -= 1
        elif entry.op is Op.APPEND:
            size += entry.data.size
            count += 0 if old is not None else 1
        else:
            size += entry.data.size - (old.size if old is not None else 0)
            count += 0 if old is not None else 1
    return size, count


def check_collisions(tree: Tree, layer: list[Entry]) -> None:
    """Refuse a layer that would make one path both a file and a directory."""
    files = {e.path for e in layer if e.op is not Op.DELETE}
    dirs = {d.rstrip("/") for p in files for d in ancestor_dirs(p)[1:]}
    both = files & dirs
    if both:
        raise InvalidPathError(f"path {min(both)} would be both a file and a directory")
    if not tree.layers:
        return
    deleted_dirs = [e.path for e in layer if e.is_dir_delete]
    deleted_files = {e.path for e in layer if e.op is Op.DELETE and not e.is_dir_delete}

    def under_deleted_dir(path: str) -> bool:
        return any(path.startswith(d) for d in deleted_dirs)

    for path in sorted(files):
        if not under_deleted_dir(path + "/") and tree.has_dir(path):
            raise directory_in_the_way(path)
    for directory in sorted(dirs):
        gone = directory in deleted_files or under_deleted_dir(directory)
        if not gone and tree.lookup(directory) is not None:
            raise InvalidPathError(
                f"cannot put files under {directory}/: {directory} is a file; delete it first"
            )


def finish_tree(
    store: ManifestStore,
    base: tuple[ManifestInfo, ...],
    base_size: int,
    base_count: int,
    staged: tuple[ManifestInfo, ...],
) -> FinishedTree:
    """The finished stack of a commit whose parent tree is ``base``."""
    delta = fold_staged(store, staged)
    if delta is None:
        return FinishedTree(tuple(m for m in base if m.rows > 0), base_size, base_count)
    parent = Tree([store.open(m.id) for m in base])
    d_size, d_count = delta_stats(parent, list(store.open(delta.id)))
    layers = compact(store, [*base, delta])
    return FinishedTree(tuple(layers), base_size + d_size, base_count + d_count)
