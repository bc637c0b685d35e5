"""A stack of layers read as one tree, and the merge that compacts layers.

A commit's files are a stack of manifests, bottom first. A higher layer's entry for a
path wins; ``APPEND`` entries add to what is below; ``DELETE`` of ``/dir/`` hides every
path under ``/dir/`` in the layers below it (not in its own layer). Merging adjacent
layers gives one layer with the same meaning; merging into the bottom drops deletes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence

from raypachy.storage.entries import Entry, FileData, Op, concat
from raypachy.storage.manifest import Manifest, ManifestInfo, ManifestStore, prefix_end


def ancestor_dirs(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/", "/a/", "/a/b/"]``; a directory path keeps itself last."""
    parts = path.split("/")[1:-1]
    out = ["/"]
    acc = "/"
    for part in parts:
        acc += part + "/"
        out.append(acc)
    return out


def _resolve(group: list[tuple[int, Entry]], cutoff: int, bottom: bool) -> Entry | None:
    """The merged entry for one file path; ``group`` is sorted top layer first.

    ``cutoff`` is the layer of the highest directory delete above this path (-1 if
    none): entries in lower layers are hidden.
    """
    appended: list[FileData] = []
    base: FileData | None = None
    found_delete = False
    for layer, entry in group:
        if layer < cutoff:
            break
        if entry.op is Op.APPEND:
            appended.append(entry.data)
            continue
        if entry.op is Op.PUT:
            base = entry.data
        else:
            found_delete = True
        break
    path = group[0][1].path
    if base is None and not appended:
        return Entry(path, Op.DELETE, FileData.empty()) if found_delete and not bottom else None
    data = base if base is not None else FileData.empty()
    for part in reversed(appended):
        data = concat(data, part)
    below_is_gone = base is not None or found_delete or cutoff >= 0
    return Entry(path, Op.PUT if bottom or below_is_gone else Op.APPEND, data)


def merge_layers(layers: Sequence[Iterable[Entry]], bottom: bool) -> Iterator[Entry]:
    """Merge sorted layer streams (bottom first) into one sorted layer.

    With ``bottom=True`` the result is a plain tree (only ``PUT`` entries): nothing lies
    below it. Otherwise deletes and appends are kept so that they still apply to the
    layers under the merged one.
    """
    if len(layers) == 1 and bottom:
        yield from (e for e in layers[0] if e.op is not Op.DELETE)
        return
    # Tag each entry with its layer; sort ties so the top layer comes first.
    streams = [_tagged(layer, i) for i, layer in enumerate(layers)]
    tombstones: list[tuple[str, int]] = []  # active directory deletes: (prefix, layer)
    group: list[tuple[int, Entry]] = []

    def flush() -> Entry | None:
        path = group[0][1].path
        while tombstones and not path.startswith(tombstones[-1][0]):
            tombstones.pop()
        cutoff = max((layer for _, layer in tombstones), default=-1)
        if path.endswith("/"):
            top = group[0][0]
            tombstones.append((path, top))
            return None if bottom else Entry(path, Op.DELETE, FileData.empty())
        return _resolve(group, cutoff, bottom)

    for path, neg_layer, entry in heapq.merge(*streams, key=lambda t: (t[0], t[1])):
        if group and group[0][1].path != path:
            out = flush()
            if out is not None:
                yield out
            group = []
        group.append((-neg_layer, entry))
    if group:
        out = flush()
        if out is not None:
            yield out


class Tree:
    """The files of one commit: a stack of manifests merged on read."""

    def __init__(self, layers: Sequence[Manifest]) -> None:
        self.layers = list(layers)

    def lookup(self, path: str) -> FileData | None:
        """The content of file ``path``, or None if there is no such file."""
        appended: list[FileData] = []
        ancestors = ancestor_dirs(path)
        result: FileData | None = None
        for layer in reversed(self.layers):
            entry = layer.lookup(path)
            if entry is not None:
                if entry.op is Op.PUT:
                    result = entry.data
                    break
                if entry.op is Op.DELETE:
                    break
                appended.append(entry.data)
            if any(_is_tombstone(layer.lookup(d)) for d in ancestors):
                break
        if result is None and not appended:
            return None
        data = result if result is not None else FileData.empty()
        for part in reversed(appended):
            data = concat(data, part)
        return data

    def scan(self, prefix: str = "/", start: str = "") -> Iterator[tuple[str, FileData]]:
        """Every file whose path starts with ``prefix`` (and is >= ``start``), sorted by path."""
        stop = prefix_end(prefix)
        begin = max(prefix, start)
        streams: list[Iterable[Entry]] = []
        for layer in self.layers:
            # Directory deletes above ``begin`` sort before it: feed them in first.
            seeds = [e for d in ancestor_dirs(begin) if (e := layer.lookup(d)) and e.is_dir_delete]
            streams.append(_chain(seeds, layer.scan(begin, stop)))
        for entry in merge_layers(streams, bottom=True):
            yield entry.path, entry.data

    def has_dir(self, path: str) -> bool:
        """True when at least one file lives under directory ``path``."""
        prefix = path if path.endswith("/") else path + "/"
        return next(iter(self.scan(prefix)), None) is not None


def tree_of(manifests: ManifestStore, layers: Iterable[ManifestInfo]) -> Tree:
    """The tree of a commit whose layers are ``layers`` (bottom first); empty layers are
    skipped without being opened."""
    return Tree([manifests.open(m.id) for m in layers if m.rows])


def _tagged(layer: Iterable[Entry], index: int) -> Iterator[tuple[str, int, Entry]]:
    for entry in layer:
        yield entry.path, -index, entry


def _is_tombstone(entry: Entry | None) -> bool:
    return entry is not None and entry.is_dir_delete


def _chain(first: list[Entry], rest: Iterable[Entry]) -> Iterator[Entry]:
    seen = {e.path for e in first}
    yield from first
    for e in rest:
        if e.path not in seen:
            yield e
