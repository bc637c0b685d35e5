"""Putting files from where the data already is: ``https://`` and ``s3://`` URLs.

The client fetches and streams each object into one write: its direct data plane
(``modify()``) when it reaches the storage, else one commit through the upload route that is
deleted if anything fails. Either way a URL that cannot be read leaves nothing committed and
raises one ``IngestError`` naming the URL::

    from raypachy.client.ingest import put_urls
    put_urls(client, "raw@master", "/", ["https://example.com/a.csv", "s3://bucket/logs/"],
             recursive=True)

``s3://`` uses boto3 with the usual AWS credentials (environment, profile, instance role);
``RAYPACHY_INGEST_S3_ENDPOINT`` points it at an S3-compatible store (MinIO, SeaweedFS, R2).
With ``untar``, each object is read as a tar stream and its regular files are put below the
path. No ray or pyarrow here: the CLI imports this.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import httpx

from raypachy import errors
from raypachy.pfs.model import Commit
from raypachy.pfs.names import normalize_path

S3_ENDPOINT_ENV = "RAYPACHY_INGEST_S3_ENDPOINT"
SCHEMES = ("http", "https", "s3")
_TIMEOUT = httpx.Timeout(30.0, read=300.0)


def is_url(source: str) -> bool:
    """Whether ``source`` names a remote object (``http(s)://`` or ``s3://``)."""
    return urlsplit(source).scheme.lower() in SCHEMES and "://" in source


def shown(url: str) -> str:
    """``url`` for messages: without a user:password part, and its query (a presigned URL's
    signature, an access token) cut to ``?...``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "..." if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


@dataclass(frozen=True, slots=True)
class Remote:
    """One object to fetch: its URL and its path below the destination."""

    url: str
    name: str


class _Stream:
    """A binary stream over an iterator of byte pieces (``read(n)`` as the chunker asks)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces, self._buffer = pieces, b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        if n < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def _s3() -> Any:
    import boto3  # only for s3:// sources
    from botocore.config import Config

    endpoint = os.environ.get(S3_ENDPOINT_ENV) or None
    config = Config(s3={"addressing_style": "path"} if endpoint else None)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def _bucket_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if not parts.netloc:
        raise errors.IngestError(f"cannot read {shown(url)}: no bucket: use s3://bucket/key")
    return parts.netloc, parts.path.lstrip("/")


def _fail(url: str, why: object) -> errors.IngestError:
    reason = str(why).replace(url, shown(url))  # a library's message may quote the URL whole
    return errors.IngestError(f"cannot read {shown(url)}: {reason}")


def _s3_why(e: Exception) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return f"{err.get('Code', '')} {err.get('Message', '')}".strip() or type(e).__name__
    return str(e) or type(e).__name__


def expand(url: str, recursive: bool) -> list[Remote]:
    """The objects ``url`` names: one, or with ``recursive`` every object below an s3 prefix
    (named by its key below the prefix)."""
    if not is_url(url):
        raise errors.IngestError(f"cannot read {shown(url)}: not an http(s):// or s3:// URL")
    if urlsplit(url).scheme.lower() != "s3" or not recursive:
        name = posixpath.basename(urlsplit(url).path.rstrip("/"))
        return [Remote(url, name)]
    bucket, prefix = _bucket_key(url)
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    out: list[Remote] = []
    try:
        pages = _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base)
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if not key.endswith("/"):  # folder markers some tools write
                    out.append(Remote(f"s3://{bucket}/{key}", key[len(base) :]))
    except Exception as e:  # botocore's errors share no base worth naming here
        raise _fail(url, _s3_why(e)) from None
    if not out:
        raise _fail(url, "no objects under this prefix")
    return out


@contextlib.contextmanager
def open_remote(url: str) -> Iterator[BinaryIO]:
    """A stream of the object's bytes; any failure is one ``IngestError`` naming the URL."""
    if urlsplit(url).scheme.lower() == "s3":
        bucket, key = _bucket_key(url)
        if not key:
            raise _fail(url, "no key: name an object, or a prefix with -r")
        try:
            body = _s3().get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as e:
            raise _fail(url, _s3_why(e)) from None
        with contextlib.closing(body):
            yield _Guarded(body, url)  # type: ignore[misc]
        return
    with contextlib.ExitStack() as stack:
        try:
            response = stack.enter_context(
                httpx.stream("GET", url, timeout=_TIMEOUT, follow_redirects=True)
            )
        except httpx.HTTPError as e:
            raise _fail(url, f"{type(e).__name__}: {e}".rstrip(": ")) from None
        if response.status_code >= 400:
            raise _fail(url, f"HTTP {response.status_code} {response.reason_phrase}")
        yield _Guarded(_Stream(response.iter_bytes(1 << 20)), url)  # type: ignore[misc]


class _Guarded:
    """A stream whose read errors (a connection dropped midway) name the URL."""

    def __init__(self, inner: Any, url: str) -> None:
        self._inner, self._url = inner, url

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)  # type: ignore[no-any-return]
        except errors.RaypachyError:
            raise
        except Exception as e:
            raise _fail(self._url, f"read failed: {type(e).__name__}: {e}") from None


def _members(stream: BinaryIO, url: str) -> Iterator[tuple[str, BinaryIO]]:
    """The regular files of a tar stream, each with its normalised path."""
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue  # directories are implicit; links are never followed
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if ".." in parts:
                    raise _fail(url, f"tar member {member.name!r} leaves the directory")
                try:
                    name = normalize_path("/" + "/".join(parts), allow_root=False)
                except errors.InvalidPathError as e:
                    raise _fail(url, f"tar member {member.name!r}: {e.message}") from None
                f = tar.extractfile(member)
                assert f is not None
                yield name, f  # type: ignore[misc]
    except tarfile.TarError as e:
        raise _fail(url, f"not a tar archive ({e})") from None


def plan(path: str, urls: Sequence[str], recursive: bool, untar: bool) -> list[tuple[Remote, str]]:
    """Each object to fetch with where it goes: ``path`` itself for one plain object, else
    ``path/<name>`` (an object's name, a key below the prefix, or, with ``untar``, the
    archive's members go below ``path``)."""
    if not urls:
        raise errors.IngestError("no URL given: -f URL or -i FILE of URLs, one a line")
    remotes = [r for url in urls for r in expand(url, recursive)]
    base = normalize_path(path or "/").rstrip("/")
    one_file = len(urls) == 1 and len(remotes) == 1 and not recursive and not untar
    out = []
    for remote in remotes:
        if untar:
            out.append((remote, base or "/"))
        elif one_file and base:
            out.append((remote, base))
        elif not remote.name:
            raise _fail(remote.url, "the URL names no file: give the path to put it at")
        else:
            out.append((remote, normalize_path(f"{base}/{remote.name}")))
    return out


def read_url_list(text: str) -> list[str]:
    """The URLs of an ``-i`` file: one a line; blank lines and ``#`` comments skipped."""
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def put_urls(
    api: Any,
    target: str,
    path: str,
    urls: Sequence[str],
    recursive: bool = False,
    untar: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Commit:
    """Fetch ``urls`` into ``target`` (``repo@branch`` or an open commit) at ``path``, in
    one commit; if any URL fails nothing is committed and ``IngestError`` names it.

    ``api`` is a ``Client`` or a ``Pachd``: its direct data plane is used when it has one.
    """
    planned = plan(path, urls, recursive, untar)
    if getattr(api, "direct_storage", True):
        with api.modify(target, on_progress=on_progress) as m:
            for remote, dest in planned:
                _put_each(remote, dest, untar, m.put)
        return m.result()  # type: ignore[no-any-return]
    return _through_api(api, target, planned, untar)


def _put_each(remote: Remote, dest: str, untar: bool, put: Callable[[str, Any], object]) -> None:
    with open_remote(remote.url) as stream:
        if not untar:
            put(dest, stream)
            return
        for name, f in _members(stream, remote.url):
            put(normalize_path(f"{dest.rstrip('/')}{name}"), _Guarded(f, remote.url))


def _pieces(stream: Any) -> Iterator[bytes]:
    while piece := stream.read(1 << 20):
        yield piece


def _through_api(api: Any, target: str, planned: list[tuple[Remote, str]], untar: bool) -> Commit:
    """For a client that cannot reach storage: each file through the upload route, all into
    one commit (the open one ``target`` names, or one opened here and deleted on failure)."""
    from raypachy.pfs.address import parse_address

    addr = parse_address(target)
    try:
        head: Commit | None = api.inspect_commit(target)
    except errors.NotFoundError:
        head = None
    opened = head is None or head.finished is not None
    if opened:
        head = api.start_commit(target)
    assert head is not None
    into = f"{addr.repo}@{head.id}"
    try:
        for remote, dest in planned:
            _put_each(remote, dest, untar, lambda p, s: api.put_file(into, p, _pieces(s)))
        return api.finish_commit(into) if opened else api.inspect_commit(into)  # type: ignore[no-any-return]
    except BaseException:
        if opened:  # nothing half-written becomes visible
            with contextlib.suppress(errors.RaypachyError, httpx.HTTPError):
                api.delete_commit(into)
        raise
