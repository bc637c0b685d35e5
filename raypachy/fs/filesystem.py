"""``RaypachyFileSystem``: versioned data as an fsspec filesystem (``raypachy://``).

    import pandas as pd
    df = pd.read_csv("raypachy://iris@master/raw/iris-1.csv")

Paths are ``repo@ref/path`` (see ``raypachy.fs.paths``). A branch is resolved to its head
commit once per ``open``, ``ls``, ``info`` or ``find``, so one call sees one commit; a path
with a commit id (``repo@<id>/...``) reads that commit forever. Reads fetch only the chunks
that hold the bytes asked for, straight from storage when this process can reach it, else
through the API's ranged downloads.

Writes: ``open(path, "wb")`` makes one commit when the file is closed; inside
``with fs.transaction:`` every file written and removed becomes one commit when the block
ends, and an exception inside leaves nothing visible. ``rm`` makes one commit.

Errors follow fsspec's conventions (``FileNotFoundError``, ``IsADirectoryError``,
``PermissionError``), since pandas, pyarrow and DuckDB test for exactly those; the raypachy
error that caused one is kept as its ``__cause__``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractFileSystem

from raypachy import errors
from raypachy.fs.files import RaypachyReadFile, RaypachyWriteFile
from raypachy.fs.paths import PROTOCOL, FsPath, parse_fs_path
from raypachy.fs.transaction import Op, RaypachyTransaction
from raypachy.pfs.model import Commit, FileInfo
from raypachy.storage.entries import FileData
from raypachy.storage.reader import range_refs

if TYPE_CHECKING:
    from raypachy.client import Client

_GLOB_SPECIAL = set("*?[]{}(),\\")
_REFS_CACHE = 4096  # file refs of pinned commits kept per filesystem (they never change)


@contextmanager
def _as_os_errors(name: str) -> Iterator[None]:
    """Turn raypachy's not-found and read-only errors into the builtins fsspec expects."""
    try:
        yield
    except errors.NotFoundError as e:
        raise FileNotFoundError(2, str(e), name) from e
    except (errors.CommitFinishedError, errors.CommitOpenError) as e:
        raise PermissionError(13, str(e), name) from e


def _escape_glob(path: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in path)


def _entry(fp: FsPath, info: FileInfo) -> dict[str, Any]:
    return {
        "name": fp.name(info.path),
        "type": "file" if info.type == "file" else "directory",
        "size": info.size_bytes,
        "hash": info.hash,
        "commit": str(info.commit),
    }


def _restore(address: str) -> RaypachyFileSystem:
    return RaypachyFileSystem(address=address)


class RaypachyFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """An fsspec filesystem over a raypachy API (``address``, or ``raypachy.connect()``)."""

    protocol = PROTOCOL
    root_marker = ""
    transaction_type = RaypachyTransaction

    def __init__(
        self, address: str | None = None, client: Client | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._address = address
        self._client = client
        self._refs: OrderedDict[tuple[str, str], FileData] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from raypachy.client import connect

            self._client = connect(self._address)
        return self._client

    def __reduce__(self) -> Any:
        # The client (an HTTP connection pool) stays here; the copy connects to the same API.
        return _restore, (self.client.address,)

    # --- resolving -------------------------------------------------------------------------

    def _parse(self, path: str) -> FsPath | None:
        return parse_fs_path(self._strip_protocol(path))

    def _file_path(self, path: str) -> FsPath:
        fp = self._parse(path)
        if fp is None:
            raise IsADirectoryError(21, "the root of raypachy:// holds repos, not files", path)
        return fp

    def pin(self, fp: FsPath) -> str:
        """``repo@<commit id>`` for the commit a branch (or ``branch^N``) points at now."""
        if fp.pinned:
            return fp.target
        with _as_os_errors(fp.name(fp.path)):
            return f"{fp.repo}@{self.client.inspect_commit(fp.target).id}"

    def file_data(self, target: str, path: str) -> FileData:
        """Where the bytes of file ``path`` of the pinned commit ``target`` are."""
        key = (target, path)
        with self._lock:
            cached = self._refs.get(key)
            if cached is not None:
                self._refs.move_to_end(key)
                return cached
        with _as_os_errors(f"{target}{path}"):
            found = self.client.walk_data(target, path)
        exact: list[FileData] = [data for p, data in found if p == path]
        if not exact:
            raise IsADirectoryError(21, f"{path} is a directory in {target}", f"{target}{path}")
        with self._lock:
            self._refs[key] = exact[0]
            while len(self._refs) > _REFS_CACHE:
                self._refs.popitem(last=False)
        return exact[0]

    def read_range(self, target: str, path: str, data: FileData, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a file: only the chunks holding them are fetched."""
        if end <= start or start >= data.size:
            return b""
        client = self.client
        if not client.direct_storage:
            return client.read_range(target, path, start, min(end, data.size))
        pieces = range_refs(data, start, end)
        ids = list(dict.fromkeys(ref.chunk for ref, _, _ in pieces))
        if len(ids) > 1:  # fetch (and verify) the chunks side by side: storage latency adds up
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="raypachy-fs")
            chunks = dict(zip(ids, self._pool.map(client.chunks.get, ids), strict=True))
        else:
            chunks = {ids[0]: client.chunks.get(ids[0])}
        return b"".join(
            chunks[ref.chunk][ref.offset + first : ref.offset + last] for ref, first, last in pieces
        )

    # --- reading ---------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        fp = self._parse(path)
        if fp is None:
            out = [
                {"name": r.name, "type": "directory", "size": r.size_bytes}
                for r in self.client.list_repos()
            ]
        else:
            out = [_entry(fp, i) for i in self._list(fp)]
        return out if detail else [e["name"] for e in out]

    def _list(self, fp: FsPath) -> list[FileInfo]:
        with _as_os_errors(fp.name(fp.path)):
            try:
                return self.client.list_files(fp.target, fp.path)
            except errors.BranchNotFoundError:
                if fp.path == "/" and not fp.ancestry and not fp.pinned:
                    # A branch with no commit yet is an empty directory (writing creates it).
                    self.client.inspect_repo(fp.repo)
                    return []
                raise

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        fp = self._parse(path)
        if fp is None:
            return {"name": "", "type": "directory", "size": 0}
        with _as_os_errors(fp.name(fp.path)):
            if fp.path != "/":
                return _entry(fp, self.client.inspect_file(fp.target, fp.path))
            try:  # a repo's root: the commit knows its size, no need to scan every file
                commit = self.client.inspect_commit(fp.target)
            except errors.BranchNotFoundError:
                if self._list(fp) == []:
                    return {"name": fp.prefix, "type": "directory", "size": 0}
                raise
            return {"name": fp.prefix, "type": "directory", "size": commit.size_bytes or 0,
                    "commit": str(commit.ref)}  # fmt: skip

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        fp = self._parse(path)
        if fp is None:  # every repo's default branch: walk them one by one
            return super().find(path, maxdepth, withdirs, detail, **kwargs)
        is_dir, found = self._find(fp)
        base_depth = fp.path.rstrip("/").count("/")
        out: dict[str, dict[str, Any]] = {}
        for info in found:
            if info.type == "dir" and not withdirs:
                continue
            if maxdepth is not None and info.path.rstrip("/").count("/") - base_depth > maxdepth:
                continue
            entry = _entry(fp, info)
            out[entry["name"]] = entry
        if withdirs and is_dir and fp.path != "/":
            size = sum(i.size_bytes for i in found if i.type == "file")
            out[fp.name(fp.path)] = {"name": fp.name(fp.path), "type": "directory", "size": size}
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def _find(self, fp: FsPath) -> tuple[bool, list[FileInfo]]:
        """(is ``fp`` a directory, the file at ``fp`` or everything under the directory),
        read from one commit."""
        try:
            target = self.pin(fp)
        except FileNotFoundError:
            if fp.path == "/" and not fp.ancestry and self._list(fp) == []:
                return True, []  # a branch with no commit yet is an empty directory
            raise
        with _as_os_errors(fp.name(fp.path)):
            below = self.client.glob_files(target, _escape_glob(fp.path.rstrip("/")) + "/**")
            if below or fp.path == "/":
                return True, below
            try:
                return False, [self.client.inspect_file(target, fp.path)]
            except errors.PathNotFoundError:
                return False, []

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        fp = self._file_path(path)
        target = self.pin(fp)
        data = self.file_data(target, fp.path)
        lo = 0 if start is None else (start if start >= 0 else max(data.size + start, 0))
        hi = data.size if end is None else (end if end >= 0 else max(data.size + end, 0))
        return self.read_range(target, fp.path, data, lo, min(hi, data.size))

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        fp = self._file_path(path)
        if mode == "rb":
            target = self.pin(fp)
            data = self.file_data(target, fp.path)
            # Reading straight from storage, the chunk cache is the cache; through the API,
            # read ahead so that small reads do not each become a request.
            cache = "none" if self.client.direct_storage else "readahead"
            return RaypachyReadFile(
                self, path, target, fp.path, data, block_size=block_size,
                cache_type=kwargs.pop("cache_type", cache), cache_options=cache_options,
            )  # fmt: skip
        if mode not in ("wb", "ab", "xb"):
            raise ValueError(f"mode {mode!r} is not supported: use 'rb', 'wb', 'ab' or 'xb'")
        self._check_writable(fp)
        if mode == "xb" and self.exists(path):
            raise FileExistsError(17, "the file exists already", path)
        if not autocommit:
            self._transaction_target(fp)
        f = RaypachyWriteFile(
            self, path, fp, mode="wb" if mode == "xb" else mode, block_size=block_size,
            autocommit=autocommit,
        )  # fmt: skip
        if not autocommit:  # fsspec adds the file to the transaction; we keep the order
            self.transaction.ops.append(("put", fp, f))
        return f

    # --- writing ---------------------------------------------------------------------------

    def _check_writable(self, fp: FsPath) -> None:
        if fp.pinned or fp.ancestry:
            raise PermissionError(
                13, f"{fp.target} is a commit and never changes: write to a branch", fp.prefix
            )
        with _as_os_errors(fp.name(fp.path)):
            self.client.check_writable(f"{fp.repo}@{fp.ref}")

    def _transaction_target(self, fp: FsPath) -> None:
        txn = self.transaction
        if txn.target is None:
            txn.target = fp.target
        elif txn.target != fp.target:
            raise ValueError(
                f"a transaction makes one commit on one branch: it writes to {txn.target}, "
                f"not {fp.target}; use one transaction per branch"
            )

    def publish(self, ops: list[Op]) -> Commit | None:
        """Apply writes and removals on one branch as one commit."""
        if not ops:
            return None
        fp = ops[0][1]
        client = self.client
        with _as_os_errors(fp.target):
            if not client.direct_storage:
                return self._publish_via_api(fp, ops)
            with client.modify(fp.target) as m:
                for kind, op_fp, f in ops:
                    if kind == "put":
                        f.spool.seek(0)
                        m.put(op_fp.path, f.spool, append=f.append)
                    else:
                        m.delete(op_fp.path)
            return m.commit

    def _publish_via_api(self, fp: FsPath, ops: list[Op]) -> Commit:
        """Without access to storage, bytes go through the API into one open commit."""
        client = self.client
        if len(ops) == 1:
            return self._apply(fp.target, ops[0])
        opened = client.start_commit(fp.target, description="raypachy:// transaction")
        target = f"{fp.repo}@{opened.id}"
        try:
            for op in ops:
                self._apply(target, op)
        except BaseException:
            client.delete_commit(target)  # the branch goes back: nothing becomes visible
            raise
        return client.finish_commit(target)

    def _apply(self, target: str, op: Op) -> Commit:
        kind, fp, f = op
        if kind == "put":
            f.spool.seek(0)
            return self.client.put_file(target, fp.path, f.spool, append=f.append)
        return self.client.delete_file(target, fp.path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        paths = path if isinstance(path, list) else [path]
        fps = []
        for p in paths:
            fp = self._file_path(p)
            self._check_writable(fp)
            if not recursive and self.isdir(p):
                raise IsADirectoryError(21, "use recursive=True to remove a directory", p)
            if not self.exists(p):
                raise FileNotFoundError(2, "no such file or directory", p)
            fps.append(fp)
        if self._intrans:
            for fp in fps:
                self._transaction_target(fp)
                self.transaction.ops.append(("delete", fp, None))
            return
        for target in dict.fromkeys(fp.target for fp in fps):
            with _as_os_errors(target):
                self.publish([("delete", fp, None) for fp in fps if fp.target == target])

    def rm_file(self, path: str) -> None:
        self.rm(path)

    def _rm(self, path: str) -> None:
        self.rm(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Directories exist while files are in them: nothing to do."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Directories exist while files are in them: nothing to do."""

    def rmdir(self, path: str) -> None:
        """Directories vanish with their last file: nothing to do."""

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy within raypachy: one commit, and no bytes move (the chunks are shared)."""
        src, dst = self._file_path(path1), self._file_path(path2)
        self._check_writable(dst)
        with _as_os_errors(path1):
            self.client.copy_file(self.pin(src), src.path, dst.target, dst.path)

    def created(self, path: str) -> Any:
        return self.modified(path)

    def modified(self, path: str) -> Any:
        """When the commit this path is read from was made."""
        fp = self._file_path(path)
        with _as_os_errors(path):
            return self.client.inspect_commit(self.pin(fp)).started

    def ukey(self, path: str) -> str:
        return str(self.info(path)["hash"])
