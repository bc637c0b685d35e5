"""Reading an upload's body to a temporary file, checking every digest the client sent.

Plain bodies are checked against the signed ``x-amz-content-sha256``, ``Content-MD5`` and an
``x-amz-checksum-{crc32,sha1,sha256}`` header. ``aws-chunked`` bodies (SDKs stream large
uploads so) are unframed on the fly; each chunk's signature is checked when the request is
signed per chunk, and a trailing checksum when one is sent. A mismatch is an error before
anything is stored under a path: nothing half-written becomes visible.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from raypachy.errors import S3Error
from raypachy.server.s3.sigv4 import UNSIGNED, Signed, denied

MAX_OBJECT_BYTES = 5 << 30  # S3's limit for one PUT or one part
MAX_XML_BYTES = 2 << 20
_MAX_LINE = 4096


def bad_digest(message: str) -> S3Error:
    return S3Error("BadDigest", message, 400)


class _Checksum:
    """An ``x-amz-checksum-<algorithm>`` value: CRC32, SHA1 and SHA256 are checked."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._crc = 0
        self._hash: Any = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}.get(algorithm)
        self._hash = self._hash() if self._hash else None

    @property
    def supported(self) -> bool:
        return self.algorithm == "crc32" or self._hash is not None

    def update(self, data: bytes) -> None:
        if self.algorithm == "crc32":
            self._crc = zlib.crc32(data, self._crc)
        elif self._hash is not None:
            self._hash.update(data)

    def value(self) -> str:
        raw = self._crc.to_bytes(4, "big") if self.algorithm == "crc32" else self._hash.digest()
        return base64.b64encode(raw).decode()


@dataclass
class Body:
    """A request body on local disk (rewound), and its size."""

    file: BinaryIO
    size: int

    def close(self) -> None:
        self.file.close()


class _Chunked:
    """Unframes ``aws-chunked``: ``<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`` ...,
    a zero-size chunk, then optional trailer lines and an empty line."""

    def __init__(self, signed: Signed | None, signed_chunks: bool, trailer: bool) -> None:
        self.signed = signed if signed_chunks else None
        self.trailer = trailer
        self.previous = signed.signature if signed else ""
        self.buf = bytearray()
        self.remaining = -1  # bytes of data left in the current chunk; -1: reading a header
        self.chunk_sig = ""
        self.hasher = hashlib.sha256()
        self.last = False
        self.done = False
        self.trailers: dict[str, str] = {}
        self.trailer_raw = bytearray()

    def _line(self) -> bytes | None:
        end = self.buf.find(b"\r\n")
        if end == -1:
            if len(self.buf) > _MAX_LINE:
                raise S3Error("IncompleteBody", "malformed aws-chunked body: a line is too long")
            return None
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def _header(self, line: bytes) -> None:
        size_text, _, ext = line.decode("latin-1").partition(";")
        try:
            self.remaining = int(size_text.strip(), 16)
        except ValueError:
            raise S3Error("IncompleteBody", "malformed aws-chunked body: bad chunk size") from None
        name, _, sig = ext.partition("=")
        if self.signed is not None:
            if name.strip() != "chunk-signature" or not sig:
                raise denied("an aws-chunked chunk is not signed")
            self.chunk_sig = sig.strip()
        self.hasher = hashlib.sha256()
        self.last = self.remaining == 0

    def _end_chunk(self) -> None:
        if self.signed is not None:
            expected = self.signed.chunk_signature(self.previous, self.hasher.hexdigest())
            if expected != self.chunk_sig:
                raise denied("an aws-chunked chunk's signature does not match")
            self.previous = expected

    def feed(self, data: bytes) -> list[bytes]:
        """The payload bytes within ``data`` (the framing stripped)."""
        self.buf += data
        out: list[bytes] = []
        while not self.done:
            if self.remaining > 0:
                if not self.buf:
                    break
                piece = bytes(self.buf[: self.remaining])
                del self.buf[: len(piece)]
                self.remaining -= len(piece)
                self.hasher.update(piece)
                out.append(piece)
                continue
            if self.remaining == 0:  # the data's closing CRLF (none after the last chunk's
                if self.last:  # header when trailers follow)
                    self._end_chunk()
                    self.remaining = -2
                    continue
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise S3Error("IncompleteBody", "malformed aws-chunked body: chunk overrun")
                del self.buf[:2]
                self._end_chunk()
                self.remaining = -1
                continue
            line = self._line()
            if line is None:
                break
            if self.remaining == -1:
                self._header(line)
            elif line == b"":  # after the last chunk: the end, or the end of the trailers
                self.done = True
            else:
                name, _, value = line.decode("latin-1").partition(":")
                self.trailers[name.strip().lower()] = value.strip()
                if name.strip().lower() != "x-amz-trailer-signature":
                    self.trailer_raw += line + b"\n"
        return out

    def finish(self) -> None:
        if not self.done:
            raise S3Error("IncompleteBody", "the aws-chunked body ended before its last chunk")
        sig = self.trailers.get("x-amz-trailer-signature")
        if (
            self.signed is not None
            and self.trailer
            and (
                sig is None or self.signed.trailer_signature(self.previous, self.trailer_raw) != sig
            )
        ):
            raise denied("the aws-chunked trailer's signature does not match")


async def read_body(
    stream: AsyncIterator[bytes],
    header: Callable[[str], str | None],
    signed: Signed | None,
    limit: int = MAX_OBJECT_BYTES,
) -> Body:
    """Spool the body to a temporary file, unframing and checking it; the caller closes it."""
    payload = signed.payload if signed else (header("x-amz-content-sha256") or UNSIGNED)
    streaming = payload.startswith("STREAMING-") or "aws-chunked" in (
        header("content-encoding") or ""
    )
    chunked = None
    if streaming:
        chunked = _Chunked(
            signed, payload.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            payload.endswith("-TRAILER"),
        )  # fmt: skip
    sha256 = hashlib.sha256() if signed and len(payload) == 64 and not streaming else None
    md5_text = header("content-md5")
    md5 = hashlib.md5() if md5_text else None
    checksums = []
    for algorithm in ("crc32", "sha1", "sha256", "crc32c", "crc64nvme"):
        if header(f"x-amz-checksum-{algorithm}") or (
            streaming and (header("x-amz-trailer") or "").lower() == f"x-amz-checksum-{algorithm}"
        ):
            checksums.append(_Checksum(algorithm))
    file = tempfile.TemporaryFile(prefix="raypachy-s3-")  # noqa: SIM115 (the caller closes it)
    size = 0
    try:
        async for raw in stream:
            pieces = chunked.feed(raw) if chunked is not None else [raw]
            for piece in pieces:
                size += len(piece)
                if size > limit:
                    raise S3Error(
                        "EntityTooLarge", f"the body is larger than {limit} bytes: use a "
                        "multipart upload", 400,
                    )  # fmt: skip
                for h in (sha256, md5, *checksums):
                    if h is not None:
                        h.update(piece)
                file.write(piece)
        if chunked is not None:
            chunked.finish()
        if sha256 is not None and sha256.hexdigest() != payload:
            raise S3Error(
                "XAmzContentSHA256Mismatch", "the body's SHA-256 is not the signed one", 400
            )
        if md5 is not None and base64.b64encode(md5.digest()).decode() != (md5_text or "").strip():
            raise bad_digest("the body's MD5 is not its Content-MD5")
        for c in checksums:
            sent = header(f"x-amz-checksum-{c.algorithm}")
            if sent is None and chunked is not None:
                sent = chunked.trailers.get(f"x-amz-checksum-{c.algorithm}")
            if c.supported and sent is not None and c.value() != sent.strip():
                raise bad_digest(f"the body's {c.algorithm.upper()} is not the one sent")
        file.flush()
        file.seek(0)
        return Body(file, size)
    except BaseException:
        file.close()
        raise


async def read_small(stream: AsyncIterator[bytes], limit: int = MAX_XML_BYTES) -> bytes:
    """A small body (an XML request) in memory; refused past ``limit`` bytes."""
    data = bytearray()
    async for piece in stream:
        data += piece
        if len(data) > limit:
            raise S3Error("MaxMessageLengthExceeded", f"the request body exceeds {limit} bytes")
    return bytes(data)
