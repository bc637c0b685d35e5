"""The file objects ``RaypachyFileSystem.open`` returns: a random-access reader over one
commit's chunks, and a writer that becomes a commit when it closes (or when its
transaction completes)."""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

from raypachy.fs.paths import FsPath
from raypachy.storage.entries import FileData

if TYPE_CHECKING:
    from raypachy.fs.filesystem import RaypachyFileSystem

# A writer keeps up to this much in memory, then spills to a temporary file.
SPOOL_MEMORY = 64 << 20


class RaypachyReadFile(AbstractBufferedFile):  # type: ignore[misc]
    """Reads one file of one commit: every range is cut out of the chunks that hold it."""

    def __init__(
        self,
        fs: RaypachyFileSystem,
        path: str,
        target: str,
        file_path: str,
        data: FileData,
        **kwargs: Any,
    ) -> None:
        self.target = target  # repo@commit-id: the one commit every read of this file sees
        self.file_path = file_path
        self.data = data
        super().__init__(fs, path, mode="rb", size=data.size, **kwargs)

    @property
    def commit(self) -> str:
        return self.target

    def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = self.fs.read_range(self.target, self.file_path, self.data, start, end)
        return data


class RaypachyWriteFile(AbstractBufferedFile):  # type: ignore[misc]
    """Bytes written are spooled locally; ``commit`` puts them in one commit.

    Outside a transaction the file commits itself when it is closed; inside one, the
    transaction commits every file it holds together, or discards them all.
    """

    def __init__(self, fs: RaypachyFileSystem, path: str, fp: FsPath, **kwargs: Any) -> None:
        mode = kwargs.pop("mode", "wb")
        super().__init__(fs, path, mode=mode, **kwargs)
        self.fp = fp
        self.append = mode == "ab"
        # Lives as long as the writer: closed by commit() or discard().
        self.spool: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115

    def _initiate_upload(self) -> None:
        pass

    def _upload_chunk(self, final: bool = False) -> bool:
        self.spool.write(self.buffer.getbuffer())
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        """Publish the bytes written as one commit on the file's branch."""
        try:
            self.fs.publish([("put", self.fp, self)])
        finally:
            self.discard()

    def discard(self) -> None:
        self.spool.close()
