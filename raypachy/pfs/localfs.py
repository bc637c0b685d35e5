"""Writing files from a commit to the local filesystem."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from raypachy.errors import InvalidPathError, PathNotFoundError
from raypachy.storage import ChunkStore, FileData
from raypachy.storage.reader import iter_bytes


def export(
    chunks: ChunkStore,
    items: Iterable[tuple[str, FileData]],
    path: str,
    dest: str | os.PathLike[str],
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the file at ``path`` to ``dest``, or the directory at ``path`` under ``dest``.

    ``items`` are the files at or under ``path``. Returns the number of bytes written.
    """
    total = 0
    found = False
    for file_path, data in items:
        found = True
        rel = file_path[len(path) :].lstrip("/") if file_path != path else ""
        out = Path(dest) / rel if rel else Path(dest)
        root = Path(dest).resolve()
        if rel and not out.resolve().is_relative_to(
            root
        ):  # repo paths are normalised; check anyway
            raise InvalidPathError(f"refusing to write {file_path} outside {dest}")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as f:
            for piece in iter_bytes(chunks, data):
                f.write(piece)
                total += len(piece)
                if on_progress is not None:
                    on_progress(len(piece))
    if not found:
        raise PathNotFoundError(f"file {path} not found")
    return total
