"""A datum's own S3 endpoint: Pachyderm's S3 sidecar (``input.pfs.s3``, ``s3_out``).

The worker starts one per batch on 127.0.0.1 (random port, random credentials) and shows it
each datum in turn: a read-only bucket per S3 input, named by the input, holding that
input's files at the datum's input commit, and with ``s3_out`` a bucket ``out`` whose
objects are files of the datum's output directory (they become the job's output as any
``/pfs/out`` file does). The datum finds it in ``S3_ENDPOINT`` and the usual
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from raypachy.errors import PathNotFoundError, S3Error, UnavailableError
from raypachy.server.s3.body import Body
from raypachy.server.s3.buckets import Blob, BlobReader, StoredPart, read_only
from raypachy.server.s3.names import key_path, no_such_bucket
from raypachy.server.s3.ranges import iter_range
from raypachy.server.s3.wire import ObjectInfo
from raypachy.storage import ChunkStore, FileData

OUT = "out"
_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class _DataBlob:
    info: ObjectInfo
    data: FileData
    chunks: ChunkStore

    def read(self, start: int, end: int) -> Iterator[bytes | memoryview]:
        return iter_range(self.chunks, self.data, start, end)


@dataclass(frozen=True, slots=True)
class _FileBlob:
    info: ObjectInfo
    path: str

    def read(self, start: int, end: int) -> Iterator[bytes | memoryview]:
        with open(self.path, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                piece = f.read(min(_BLOCK, left))
                if not piece:
                    return
                left -= len(piece)
                yield piece


class _ReadOnly:
    writable = False
    name: str

    async def put(self, key: str, body: Body) -> ObjectInfo:
        raise read_only(self.name)

    async def copy(self, key: str, source: Blob) -> ObjectInfo:
        raise read_only(self.name)

    async def delete(self, keys: list[str]) -> None:
        raise read_only(self.name)

    async def begin_upload(self, key: str) -> Any:
        raise read_only(self.name)

    async def put_part(self, upload: Any, number: int, body: Body) -> StoredPart:
        raise read_only(self.name)

    async def complete_upload(self, upload: Any, key: str, parts: list[StoredPart]) -> ObjectInfo:
        raise read_only(self.name)

    async def abort_upload(self, upload: Any) -> None:
        return None

    async def keep_alive(self, upload: Any) -> None:
        return None


class InputBucket(_ReadOnly):
    """One S3 input of the datum: its files (at the input commit), read-only."""

    def __init__(self, name: str, files: Sequence[tuple[str, FileData]], chunks: ChunkStore):
        self.name = name
        self.chunks = chunks
        self.when = datetime.now(UTC)
        self.files = {path[1:]: data for path, data in files}
        self.objects = sorted(
            (ObjectInfo(k, d.size, d.hash.hex(), self.when) for k, d in self.files.items()),
            key=lambda o: o.key,
        )

    async def check(self) -> None:
        return None

    async def listing(self, prefix: str) -> Sequence[ObjectInfo]:
        return self.objects

    async def get(self, key: str) -> Blob:
        data = self.files.get(key)
        if data is None:
            raise PathNotFoundError(f"no object {key!r} in input bucket {self.name}")
        return _DataBlob(ObjectInfo(key, data.size, data.hash.hex(), self.when), data, self.chunks)


class OutBucket:
    """``out``: objects are files under the datum's output directory."""

    writable = True

    def __init__(self, root: str, scratch: str) -> None:
        self.name = OUT
        self.root = root
        self.scratch = scratch

    def _file(self, key: str) -> str:
        return self.root + key_path(key)

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        when = datetime.fromtimestamp(st.st_mtime, UTC)
        return ObjectInfo(key, st.st_size, f"{st.st_size:x}-{st.st_mtime_ns:x}", when)

    async def check(self) -> None:
        return None

    async def listing(self, prefix: str) -> Sequence[ObjectInfo]:
        out = []
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                local = os.path.join(dirpath, name)
                key = local[len(self.root) + 1 :]
                with contextlib.suppress(FileNotFoundError):
                    out.append(self._info(key, os.stat(local)))
        return sorted(out, key=lambda o: o.key)

    async def get(self, key: str) -> Blob:
        try:
            path = self._file(key)
            st = os.stat(path)
        except (S3Error, OSError):
            raise PathNotFoundError(f"no object {key!r} in bucket out") from None
        if not os.path.isfile(path):
            raise PathNotFoundError(f"no object {key!r} in bucket out")
        return _FileBlob(self._info(key, st), path)

    def _place(self, key: str, source: Any) -> ObjectInfo:
        """Write ``source`` at ``key`` atomically (a temp file renamed into place)."""
        path = self._file(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.isdir(path):
                raise IsADirectoryError(path)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".raypachy-part-")
            try:
                with os.fdopen(fd, "wb") as f:
                    shutil.copyfileobj(source, f, _BLOCK)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # a half-written object is never part of the output
                raise
        except OSError as e:
            raise S3Error(
                "InvalidArgument", f"cannot write object {key!r}: a directory or a file is in "
                f"the way ({e.strerror})",
            ) from None  # fmt: skip
        return self._info(key, os.stat(path))

    async def put(self, key: str, body: Body) -> ObjectInfo:
        return self._place(key, body.file)

    async def copy(self, key: str, source: Blob) -> ObjectInfo:
        return self._place(key, BlobReader(source))

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(S3Error, FileNotFoundError, IsADirectoryError):
                os.unlink(self._file(key))

    async def begin_upload(self, key: str) -> Any:
        self._file(key)  # a bad key is refused now
        return tempfile.mkdtemp(dir=self.scratch, prefix="upload-")

    async def put_part(self, upload: Any, number: int, body: Body) -> StoredPart:
        path = os.path.join(upload, str(number))
        with open(path, "wb") as f:
            shutil.copyfileobj(body.file, f, _BLOCK)
        etag = secrets.token_hex(16)
        return StoredPart(number, etag, body.size, datetime.now(UTC), path)

    async def complete_upload(self, upload: Any, key: str, parts: list[StoredPart]) -> ObjectInfo:
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(open(p.data, "rb")) for p in parts]
            info = self._place(key, _Concat(files))
        shutil.rmtree(upload, ignore_errors=True)
        return info

    async def abort_upload(self, upload: Any) -> None:
        shutil.rmtree(upload, ignore_errors=True)

    async def keep_alive(self, upload: Any) -> None:
        return None


class _Concat:
    def __init__(self, files: list[Any]) -> None:
        self.files = files

    def read(self, n: int = -1) -> bytes:
        while self.files:
            data = self.files[0].read(n)
            if data:
                return bytes(data)
            self.files.pop(0)
        return b""


class DatumCatalog:
    """The buckets of the datum being run (swapped between datums by ``show``)."""

    def __init__(self, chunks: ChunkStore, scratch: str) -> None:
        self.chunks = chunks
        self.scratch = scratch
        self.buckets: dict[str, Any] = {}

    def show(self, inputs: dict[str, Sequence[tuple[str, FileData]]], out: str | None) -> None:
        buckets: dict[str, Any] = {
            name: InputBucket(name, files, self.chunks) for name, files in inputs.items()
        }
        if out is not None:
            buckets[OUT] = OutBucket(out.rstrip("/"), self.scratch)
        self.buckets = buckets

    async def list_buckets(self) -> list[tuple[str, datetime]]:
        return [(name, datetime.now(UTC)) for name in sorted(self.buckets)]

    async def bucket(self, name: str) -> Any:
        bucket = self.buckets.get(name)
        if bucket is None:
            raise no_such_bucket(name, f"this datum's buckets are {sorted(self.buckets)}")
        return bucket

    async def create_bucket(self, name: str) -> None:
        raise S3Error("MethodNotAllowed", "a datum's buckets are its inputs and out", 405)

    async def delete_bucket(self, name: str) -> None:
        raise S3Error("MethodNotAllowed", "a datum's buckets are its inputs and out", 405)


@dataclass
class Sidecar:
    """A running sidecar: where it listens, its credentials, and its datum's buckets."""

    endpoint: str
    access_key: str
    secret_key: str
    catalog: DatumCatalog

    def show(self, inputs: dict[str, Sequence[tuple[str, FileData]]], out: str | None) -> None:
        self.catalog.show(inputs, out)

    def env(self) -> dict[str, str]:
        return {
            "S3_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }  # fmt: skip


@contextlib.contextmanager
def datum_sidecar(chunks: ChunkStore) -> Iterator[Sidecar]:
    """Serve a datum catalog on 127.0.0.1 for the duration of a batch."""
    import uvicorn

    from raypachy.server.s3.app import create_gateway
    from raypachy.server.s3.sigv4 import static_credentials

    scratch = tempfile.mkdtemp(prefix="raypachy-s3-sidecar-")
    access, secret = "datum-" + secrets.token_hex(8), secrets.token_hex(24)
    catalog = DatumCatalog(chunks, scratch)
    app = create_gateway(catalog, static_credentials([(access, secret)]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise UnavailableError("the datum's S3 sidecar did not start")
            time.sleep(0.01)
        yield Sidecar(f"http://127.0.0.1:{port}", access, secret, catalog)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        shutil.rmtree(scratch, ignore_errors=True)
