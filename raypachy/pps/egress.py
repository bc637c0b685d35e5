"""Egress: after each successful job, its output commit goes where ``egress`` says.

``URL`` (or ``object_storage.url``): the commit is mirrored to ``s3://bucket/prefix`` or
``file:///dir``: files that changed since the commit mirrored last are written, files gone
from it are deleted. Nothing half-written is visible: a file is written beside its target
and renamed over it, an S3 object is one PUT (or one multipart upload, whole on completion).
``sql_database``: see ``raypachy.pps.sqlegress``. The outcome is stored beside the job's logs
and shown by ``inspect job`` as its ``egress`` field.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

from raypachy.errors import InvalidArgumentError, NotFoundError, RaypachyError
from raypachy.pps.model import SecretValues
from raypachy.pps.spec import Egress
from raypachy.secrets import redact
from raypachy.storage import ChunkStore, ManifestStore
from raypachy.storage.manifest import ManifestInfo
from raypachy.storage.reader import iter_bytes
from raypachy.storage.tree import Tree, tree_of

_TMP_MARK = ".raypachy-egress-"


@dataclass(frozen=True, slots=True)
class EgressStatus:
    """How the egress of one job went."""

    url: str
    state: str  # success | failure
    commit: str
    written: int = 0  # files written (URL) or rows loaded (SQL)
    deleted: int = 0
    error: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def status_key(pipeline: str, job: str) -> str:
    return f"egress/{pipeline}/{job}"


def _last_key(pipeline: str) -> str:
    return f"egress/{pipeline}/last"


def shown_url(url: str) -> str:
    """``url`` without a password in it."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def read_status(backend: Any, pipeline: str, job: str) -> dict[str, Any] | None:
    """A job's egress outcome, or None when it has none (yet)."""
    try:
        data: dict[str, Any] = json.loads(backend.get(status_key(pipeline, job)))
    except (NotFoundError, RaypachyError, ValueError):
        return None
    return data


def run_egress(
    egress: Egress,
    pipeline: str,
    job: str,
    commit: str,
    content: list[ManifestInfo],
    layers: Callable[[str], list[ManifestInfo]],
    manifests: ManifestStore,
    values: SecretValues,
) -> EgressStatus:
    """Send out the output commit ``commit`` whose files are the layers ``content``; never
    raises (the outcome says what failed).

    ``layers(commit_id)`` gives the layers of an earlier commit of the output repo.
    """
    backend = manifests.backend
    chunks = ChunkStore(backend)
    sql = egress.sql_database
    url = sql.url if sql is not None else egress.target()
    hidden = [os.fsdecode(v) for s in ([sql.secret] if sql and sql.secret else [])
              for v in values.get(s.name).values()]  # fmt: skip
    start = time.monotonic()
    try:
        tree = tree_of(manifests, content)
        if sql is not None:
            from raypachy.pps.sqlegress import load_tables

            written, deleted = load_tables(sql, tree, chunks, values), 0
        else:
            previous = _previous(backend, manifests, layers, pipeline, url)
            written, deleted = mirror(url, tree, previous, chunks)
            backend.put(_last_key(pipeline), json.dumps({"url": url, "commit": commit}).encode())
        status = EgressStatus(shown_url(url), "success", commit, written, deleted,
                              seconds=round(time.monotonic() - start, 3))  # fmt: skip
    except Exception as e:
        message = e.message if isinstance(e, RaypachyError) else f"{type(e).__name__}: {e}"
        error = redact(f"egress to {shown_url(url)} failed: {message}", hidden)
        status = EgressStatus(shown_url(url), "failure", commit, error=error.splitlines()[0],
                              seconds=round(time.monotonic() - start, 3))  # fmt: skip
    with contextlib.suppress(Exception):  # the job is done either way; the status is a report
        backend.put(status_key(pipeline, job), json.dumps(status.to_json()).encode())
    return status


def _previous(
    backend: Any, manifests: ManifestStore, layers: Callable[[str], list[ManifestInfo]],
    pipeline: str, url: str,
) -> Tree | None:  # fmt: skip
    """The commit mirrored last to ``url`` (the diff is taken against it), if still there."""
    try:
        last = json.loads(backend.get(_last_key(pipeline)))
        if last.get("url") != url:
            return None
        return tree_of(manifests, layers(str(last["commit"])))
    except (RaypachyError, ValueError, KeyError):
        return None  # no record, or its commit is gone: a full mirror


def mirror(url: str, tree: Tree, previous: Tree | None, chunks: ChunkStore) -> tuple[int, int]:
    """Make ``url`` hold the files of ``tree``; (files written, files deleted)."""
    dest = open_destination(url)
    current = dict(tree.scan())
    if previous is None:  # what is there is unknown: write everything, delete the rest
        before: set[str] = set(dest.list())
        changed = current
    else:
        old = dict(previous.scan())
        before = set(old)
        changed = {p: d for p, d in current.items()
                   if p not in old or old[p].hash != d.hash}  # fmt: skip
    for path, data in changed.items():
        dest.write(path, iter_bytes(chunks, data))
    removed = [p for p in before if p not in current]
    for path in removed:
        dest.delete(path)
    return len(changed), len(removed)


class _FileDestination:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        os.makedirs(self.root, exist_ok=True)

    def _path(self, path: str) -> str:
        return self.root + path

    def write(self, path: str, pieces: Iterator[bytes]) -> None:
        target = self._path(path)
        directory, name = os.path.split(target)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{name}{_TMP_MARK}{secrets.token_hex(4)}")
        try:
            with open(tmp, "wb") as f:
                for piece in pieces:
                    f.write(piece)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def delete(self, path: str) -> None:
        target = self._path(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        directory = os.path.dirname(target)
        while directory != self.root and directory.startswith(self.root):
            try:
                os.rmdir(directory)  # only an empty directory goes
            except OSError:
                break
            directory = os.path.dirname(directory)

    def list(self) -> Iterator[str]:
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if _TMP_MARK not in name:
                    yield "/" + os.path.relpath(os.path.join(dirpath, name), self.root)


class _S3Destination:
    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3
        from botocore.config import Config

        endpoint = os.environ.get("RAYPACHY_S3_ENDPOINT") or None
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.s3: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint,
            config=Config(retries={"max_attempts": 4, "mode": "standard"},
                          s3={"addressing_style": "path"} if endpoint else None),
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        )  # fmt: skip

    def _key(self, path: str) -> str:
        return f"{self.prefix}{path}" if self.prefix else path.lstrip("/")

    def write(self, path: str, pieces: Iterator[bytes]) -> None:
        # Spooled to memory (or disk when large): one PUT, or one multipart upload that
        # appears only when complete.
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as f:
            for piece in pieces:
                f.write(piece)
            f.seek(0)
            self.s3.upload_fileobj(f, self.bucket, self._key(path))

    def delete(self, path: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(path))

    def list(self) -> Iterator[str]:
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                yield "/" + str(item["Key"])[len(prefix) :]


def open_destination(url: str) -> _FileDestination | _S3Destination:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc or not parsed.path.startswith("/"):
            raise InvalidArgumentError(f"egress URL {url!r}: use file:///absolute/dir")
        return _FileDestination(parsed.path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidArgumentError(f"egress URL {url!r}: use s3://bucket/prefix")
        return _S3Destination(parsed.netloc, parsed.path)
    raise InvalidArgumentError(f"egress URL {url!r}: use s3://bucket/prefix or file:///dir")
