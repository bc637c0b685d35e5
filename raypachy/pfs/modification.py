"""A batch of file changes that becomes one layer in one commit.

The same class serves the library (``PFS.modify``) and the HTTP client
(``Client.modify``): whoever holds the bytes chunks them and writes them straight to
storage, then registers the small manifest with the side that owns the metadata.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Protocol

from raypachy.errors import PathNotFoundError
from raypachy.pfs.address import Address
from raypachy.pfs.localtree import local_tree
from raypachy.pfs.model import Commit
from raypachy.pfs.names import normalize_path
from raypachy.storage import ChunkStore, FileData, FileSetWriter, ManifestStore
from raypachy.storage.ingest import Source
from raypachy.storage.manifest import ManifestInfo


class WriteSide(Protocol):
    """What a Modification needs from the system it writes to."""

    threads: int

    @property
    def chunks(self) -> ChunkStore: ...

    @property
    def manifests(self) -> ManifestStore: ...

    def check_writable(self, addr: Address) -> None: ...

    def write_lease(self) -> AbstractContextManager[str]: ...

    def path_kind(self, addr: Address, path: str) -> str | None: ...

    def walk_data(self, source: str, path: str) -> Iterable[tuple[str, FileData]]: ...

    def register_layer(self, addr: Address, layer: ManifestInfo, lease_id: str) -> Commit: ...


class Modification:
    """Collects changes; on a clean exit they become one layer in one commit.

    Use it as a context manager; ``result()`` is the commit the changes went into. An
    exception inside the block discards everything: no commit, nothing visible.
    """

    def __init__(
        self, side: WriteSide, addr: Address, on_progress: Callable[[int], None] | None = None
    ) -> None:
        self.side = side
        self.addr = addr
        self._on_progress = on_progress
        self._lease: AbstractContextManager[str] | None = None
        self._lease_id = ""
        self._writer: FileSetWriter | None = None
        self.commit: Commit | None = None

    def __enter__(self) -> Modification:
        self.side.check_writable(self.addr)
        self._lease = self.side.write_lease()
        self._lease_id = self._lease.__enter__()
        self._writer = FileSetWriter(
            self.side.chunks, self.side.manifests, self.side.threads, self._on_progress
        )
        return self

    def result(self) -> Commit:
        """The commit the changes went into (after the ``with`` block)."""
        if self.commit is None:
            raise RuntimeError("the modification made no change, or is still open")
        return self.commit

    def _w(self) -> FileSetWriter:
        if self._writer is None:
            raise RuntimeError("use the modification as a context manager: with ... as m:")
        return self._writer

    def put(self, path: str, source: Source, append: bool = False) -> None:
        """Write ``source`` (bytes, a binary stream, or a local ``Path``) at ``path``."""
        self._w().put(normalize_path(path, allow_root=False), source, append)

    def put_tree(self, path: str, local_dir: str | os.PathLike[str]) -> list[str]:
        """Put every file under ``local_dir`` below ``path`` (sorted, so repeats dedup).

        Symlinks are followed only while they stay inside ``local_dir``; the others are
        skipped and returned, one ``"<path> -> <target> (why)"`` each.
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise PathNotFoundError(f"local directory {root} not found")
        base = normalize_path(path).rstrip("/")
        tree = local_tree(root)
        for rel, file in tree.files:
            self.put(f"{base}/{rel}", file)
        return list(tree.skipped)

    def delete(self, path: str) -> None:
        """Delete a file or a whole directory (``/`` deletes everything)."""
        writer = self._w()
        path = normalize_path(path)
        if path == "/":
            writer.delete("/")
            return
        if self.side.path_kind(self.addr, path) is None:
            raise PathNotFoundError(f"file {path} not found in {self.addr}")
        writer.delete(path)
        writer.delete(path + "/")

    def copy(self, source: str, src_path: str, dst_path: str, append: bool = False) -> None:
        """Copy a file or directory from commit ``source``; moves no bytes."""
        writer = self._w()
        src_path = normalize_path(src_path)
        dst_path = normalize_path(dst_path)
        for path, data in self.side.walk_data(source, src_path):
            rel = path[len(src_path) :] if path != src_path else ""
            target = (dst_path.rstrip("/") + rel) if rel else dst_path
            writer.put_data(normalize_path(target, allow_root=False), data, append)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        writer, lease = self._w(), self._lease
        assert lease is not None
        try:
            if exc_type is not None or writer.changes == 0:
                writer.abort()
                return
            layer = writer.close()
            self.commit = self.side.register_layer(self.addr, layer, self._lease_id)
        finally:
            lease.__exit__(None, None, None)
