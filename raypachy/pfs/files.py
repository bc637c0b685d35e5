"""Read-only views of a commit's tree: inspect, list, glob, walk and diff."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import blake3

from raypachy.errors import PathNotFoundError
from raypachy.pfs.glob import clean_pattern, compile_glob, literal_prefix
from raypachy.pfs.model import CommitRef, FileChange, FileInfo
from raypachy.storage.entries import FileData
from raypachy.storage.manifest import Manifest, prefix_end
from raypachy.storage.tree import Tree


class _DirAcc:
    """Accumulates a directory's size and hash while its files stream by in order."""

    __slots__ = ("hasher", "size")

    def __init__(self) -> None:
        self.size = 0
        self.hasher = blake3.blake3()

    def add(self, path: str, data: FileData) -> None:
        self.size += data.size
        self.hasher.update(path.encode() + b"\x00" + data.hash)


def _file(path: str, data: FileData, commit: CommitRef) -> FileInfo:
    return FileInfo(path, "file", data.size, data.hash.hex(), commit)


def _dir(path: str, acc: _DirAcc, commit: CommitRef) -> FileInfo:
    return FileInfo(path, "dir", acc.size, acc.hasher.hexdigest(), commit)


def dir_prefix(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def inspect(tree: Tree, path: str, commit: CommitRef) -> FileInfo:
    """The file or directory at ``path``; ``PathNotFoundError`` if neither exists."""
    if path != "/":
        data = tree.lookup(path)
        if data is not None:
            return _file(path, data, commit)
    acc = _DirAcc()
    found = False
    for p, data in tree.scan(dir_prefix(path)):
        acc.add(p, data)
        found = True
    if not found and path != "/":
        raise PathNotFoundError(f"file {path} not found in {commit}")
    return _dir(dir_prefix(path), acc, commit)


def after(start_after: str | None) -> str:
    """Where a scan resumes after the entry ``start_after`` (a ``/dir/`` skips its subtree)."""
    if start_after is None:
        return ""
    if start_after.endswith("/"):
        return prefix_end(start_after) or ""
    return start_after + "\x00"


def list_dir(
    tree: Tree, path: str, commit: CommitRef, start_after: str | None = None,
    limit: int | None = None,
) -> list[FileInfo]:  # fmt: skip
    """The immediate children of directory ``path`` (or the file itself), in path order;
    at most ``limit`` of them, after the child ``start_after`` when given."""
    if path != "/":
        data = tree.lookup(path)
        if data is not None:
            return [_file(path, data, commit)] if start_after is None else []
    prefix = dir_prefix(path)
    out: list[FileInfo] = []
    current: str | None = None
    acc = _DirAcc()
    for p, data in tree.scan(prefix, after(start_after)):
        rest = p[len(prefix) :]
        slash = rest.find("/")
        child = p if slash == -1 else prefix + rest[: slash + 1]
        if child != current:
            if current is not None:
                out.append(_dir(current, acc, commit))
                current = None
            if limit is not None and len(out) >= limit:
                break
            if slash == -1:
                out.append(_file(p, data, commit))
                continue
            current, acc = child, _DirAcc()
        acc.add(p, data)
    if current is not None:
        out.append(_dir(current, acc, commit))
    if not out and path != "/" and (start_after is None or not tree.has_dir(path)):
        raise PathNotFoundError(f"directory {path} not found in {commit}")
    return out


def walk(tree: Tree, path: str, start_after: str | None = None) -> Iterator[tuple[str, FileData]]:
    """Every file at or under ``path`` (after the path ``start_after`` when given)."""
    if path != "/":
        data = tree.lookup(path)
        if data is not None:
            if start_after is None or path > start_after:
                yield path, data
            return
    yield from tree.scan(dir_prefix(path), "" if start_after is None else start_after + "\x00")


def glob(
    tree: Tree, pattern: str, commit: CommitRef, start_after: str | None = None,
    limit: int | None = None,
) -> list[FileInfo]:  # fmt: skip
    """Files and directories matching ``pattern``; directories come back as ``/dir/``.

    They come sorted by that path (a directory just before its contents); at most ``limit``
    of them, after ``start_after`` when given. A directory's size needs its whole subtree,
    so the scan goes on until the last directory listed is complete, holding nothing more.
    """
    pattern = clean_pattern(pattern)
    regex = compile_glob(pattern)
    if pattern == "/":
        return [inspect(tree, "/", commit)] if start_after is None else []
    dirs: dict[str, _DirAcc] = {}
    out: list[tuple[str, FileInfo | None]] = []
    start = "" if start_after is None else start_after + "\x00"
    for path, data in tree.scan(literal_prefix(pattern), start):
        full = limit is not None and len(out) >= limit
        growing = False  # does this path still add to a directory already listed?
        pos = path.find("/", 1)
        while pos != -1:
            directory = path[:pos]
            acc = dirs.get(directory)
            if (
                acc is None and not full and regex.match(directory)
                and (start_after is None or directory + "/" > start_after)
            ):  # fmt: skip
                acc = dirs[directory] = _DirAcc()
                out.append((directory, None))
                full = limit is not None and len(out) >= limit
            if acc is not None:
                acc.add(path, data)
                growing = True
            pos = path.find("/", pos + 1)
        if full and not growing:
            break
        if not full and regex.match(path):
            out.append((path, _file(path, data, commit)))
    return [
        info if info is not None else _dir(name + "/", dirs[name], commit) for name, info in out
    ]


def _changed_candidates(old: Tree, new: Tree, prefix: str) -> set[str] | None:
    """Paths that may differ when both trees share their bottom layers, else None."""
    common = 0
    for a, b in zip(old.layers, new.layers, strict=False):
        if a.id != b.id:
            break
        common += 1
    if common == 0 and (old.layers or new.layers):
        return None
    candidates: set[str] = set()
    extra: list[Manifest] = old.layers[common:] + new.layers[common:]
    for layer in extra:
        for entry in layer.scan_prefix(prefix) if prefix != "/" else layer:
            if entry.is_dir_delete:
                candidates.update(p for p, _ in old.scan(entry.path))
                candidates.update(p for p, _ in new.scan(entry.path))
            else:
                candidates.add(entry.path)
    return candidates


def diff(
    old: Tree, new: Tree, path: str, old_ref: CommitRef, new_ref: CommitRef
) -> list[FileChange]:
    """Files added, deleted or modified from ``old`` to ``new`` under ``path``."""
    prefix = dir_prefix(path)
    changes: list[FileChange] = []

    def emit(p: str, a: FileData | None, b: FileData | None) -> None:
        if a is not None and b is not None and a.hash == b.hash and a.size == b.size:
            return
        kind: Literal["added", "deleted", "modified"] = (
            "added" if a is None else "deleted" if b is None else "modified"
        )
        changes.append(
            FileChange(
                p,
                kind,
                None if a is None else _file(p, a, old_ref),
                None if b is None else _file(p, b, new_ref),
            )
        )

    candidates = _changed_candidates(old, new, prefix)
    if candidates is not None:
        for p in sorted(c for c in candidates if c.startswith(prefix) or c == path):
            emit(p, old.lookup(p), new.lookup(p))
        return changes
    old_files = dict(walk(old, path))
    for p, data in walk(new, path):
        emit(p, old_files.pop(p, None), data)
    for p, data in old_files.items():
        emit(p, data, None)
    changes.sort(key=lambda c: c.path)
    return changes
