"""AWS Signature Version 4, checked on the server side (header and presigned-URL forms).

The client signs a canonical form of the request with a key derived from its secret; we
rebuild the same form from what arrived and compare. ``Credentials`` maps an access key id
to its secret (None: unknown). Streaming uploads (``aws-chunked``) chain a signature per
chunk from the request's own; ``Signed.chunk_signature`` computes the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from raypachy.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_S = 7 * 24 * 3600

Credentials = Callable[[str], str | None]
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*"
    r"Signature=([0-9a-f]{64})\s*$"
)
_SPACES = re.compile(r"\s+")


def denied(message: str) -> S3Error:
    return S3Error("AccessDenied", message, 403)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


@dataclass(frozen=True, slots=True)
class Signed:
    """A request whose signature checked out: who signed it and how its body is covered."""

    access_key: str
    key: bytes  # the derived signing key
    amz_date: str
    scope: str
    signature: str
    payload: str  # the x-amz-content-sha256 value: a hex digest, UNSIGNED-PAYLOAD or STREAMING-*

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        text = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous, EMPTY_SHA256,
             chunk_sha256)
        )  # fmt: skip
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def trailer_signature(self, previous: str, trailer: bytes | bytearray) -> str:
        text = "\n".join(
            ("AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, previous,
             hashlib.sha256(trailer).hexdigest())
        )  # fmt: skip
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()


def _aws_quote(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def canonical_query(raw: str, drop: str = "") -> str:
    pairs = []
    for item in raw.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = unquote(name), unquote(value)
        if name == drop:
            continue
        pairs.append((_aws_quote(name), _aws_quote(value)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _uri_forms(raw_path: str) -> list[str]:
    """The canonical URI as AWS defines it, and the path exactly as sent (clients differ)."""
    forms = [_aws_quote(unquote(raw_path), safe="-_.~/"), raw_path]
    return list(dict.fromkeys(forms))


def _canonical_headers(names: list[str], headers: Callable[[str], list[str]]) -> str:
    lines = []
    for name in names:
        values = headers(name)
        lines.append(f"{name}:{','.join(_SPACES.sub(' ', v.strip()) for v in values)}\n")
    return "".join(lines)


def _parse_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise denied(f"bad request date {text!r}: use the form 20240102T030405Z") from None


def _check_scope(credential: str, amz_date: str) -> tuple[str, str, str, str]:
    """(access key, date, region, service) of ``AKID/date/region/s3/aws4_request``."""
    parts = credential.split("/")
    if len(parts) < 5 or parts[-1] != "aws4_request":
        raise denied("malformed credential scope: expected <key>/<date>/<region>/s3/aws4_request")
    access_key = "/".join(parts[:-4])
    date, region, service = parts[-4:-1]
    if date != amz_date[:8]:
        raise denied("the credential scope's date is not the request's date")
    if service != "s3":
        raise denied(f"the credential scope names service {service!r}, not 's3'")
    return access_key, date, region, service


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    header: Callable[[str], list[str]],
    credentials: Credentials,
    now: datetime | None = None,
) -> Signed:
    """Check the request's SigV4 signature; ``AccessDenied`` (403) whenever it fails."""
    now = now or datetime.now(UTC)
    auth = (header("authorization") or [""])[0]
    presigned = "X-Amz-Signature=" in raw_query
    if auth and presigned:
        raise denied("a request is signed either in its headers or in its URL, not both")
    if presigned:
        query = {
            unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&"))
        }
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise denied(f"only {ALGORITHM} presigned URLs are accepted")
        amz_date = query.get("X-Amz-Date", "")
        when = _parse_date(amz_date)
        try:
            expires = int(query.get("X-Amz-Expires", ""))
        except ValueError:
            raise denied("a presigned URL needs X-Amz-Expires (seconds)") from None
        if not 0 < expires <= MAX_PRESIGNED_S:
            raise denied(f"X-Amz-Expires must be 1..{MAX_PRESIGNED_S} seconds")
        if now > when + timedelta(seconds=expires) or when - now > MAX_SKEW:
            raise denied("the presigned URL has expired (or is dated in the future)")
        credential = query.get("X-Amz-Credential", "")
        signed_headers = query.get("X-Amz-SignedHeaders", "")
        signature = query.get("X-Amz-Signature", "")
        payload = UNSIGNED
        canonical_q = canonical_query(raw_query, drop="X-Amz-Signature")
    else:
        if "AWSAccessKeyId=" in raw_query or auth.startswith("AWS "):
            raise denied("Signature Version 2 is not accepted: sign with SigV4 (e.g. boto3's "
                         "Config(signature_version='s3v4'))")  # fmt: skip
        if not auth:
            raise denied("the request is not signed: sign it with SigV4 (the access key id and "
                         "the secret are both the cluster's token)")  # fmt: skip
        match = _AUTH_RE.match(auth)
        if match is None:
            raise denied("unsupported Authorization header: only AWS4-HMAC-SHA256 (SigV4) is "
                         "accepted")  # fmt: skip
        credential, signed_headers, signature = match.groups()
        amz_date = (header("x-amz-date") or [""])[0]
        if not amz_date:
            raise denied("the request has no X-Amz-Date header")
        if abs(now - _parse_date(amz_date)) > MAX_SKEW:
            raise S3Error(
                "RequestTimeTooSkewed", "the request's time differs from the server's by more "
                "than 15 minutes: check the client's clock", 403,
            )  # fmt: skip
        payload = (header("x-amz-content-sha256") or [""])[0]
        if not payload:
            raise denied("the request has no x-amz-content-sha256 header")
        canonical_q = canonical_query(raw_query)
    access_key, date, region, service = _check_scope(credential, amz_date)
    names = signed_headers.split(";")
    if "host" not in names or names != sorted(names):
        raise denied("SignedHeaders must be sorted and include host")
    secret = credentials(access_key)
    if secret is None:
        raise denied("unknown access key id: use the cluster's token as the access key id")
    key = signing_key(secret, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    headers_block = _canonical_headers(names, header)
    for uri in _uri_forms(raw_path):
        canonical = "\n".join((method, uri, canonical_q, headers_block, signed_headers, payload))
        to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signature):
            return Signed(access_key, key, amz_date, scope, signature, payload)
    raise denied("the request signature does not match: check the access key and the secret")


def static_credentials(pairs: Iterable[tuple[str, str]]) -> Credentials:
    table = dict(pairs)
    return table.get
