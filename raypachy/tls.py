"""TLS: the API and the S3 gateway served over https, and clients that verify them.

The server takes a certificate (chain) and its private key as PEM files (``serve --tls-cert
--tls-key``). Clients verify the server with the system's CAs, or with the CAs of the PEM
file ``RAYPACHY_CA_FILE`` (a private CA, or a self-signed certificate). A server that talks
to itself (its health checks) trusts exactly its own certificate, whatever names it holds.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

from raypachy.errors import InvalidArgumentError

CA_ENV = "RAYPACHY_CA_FILE"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A server's certificate (chain) and private key, PEM files on the machine that serves."""

    cert: str
    key: str


def tls_files(cert: str | None, key: str | None) -> TlsFiles | None:
    """Both files checked (readable, a key that matches the certificate), or None for none;
    ``InvalidArgumentError`` in one line otherwise."""
    if not cert and not key:
        return None
    if not cert or not key:
        given, missing = ("--tls-cert", "--tls-key") if cert else ("--tls-key", "--tls-cert")
        raise InvalidArgumentError(f"{given} needs {missing} too (the certificate and its key)")
    files = TlsFiles(os.path.abspath(cert), os.path.abspath(key))
    for flag, path in (("--tls-cert", files.cert), ("--tls-key", files.key)):
        if not os.path.isfile(path):
            raise InvalidArgumentError(f"{flag} {path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert, files.key)
    except (ssl.SSLError, OSError) as e:
        raise InvalidArgumentError(
            f"cannot use --tls-cert {files.cert} with --tls-key {files.key}: "
            f"{getattr(e, 'reason', None) or e} (give a PEM certificate and its own PEM key)"
        ) from None
    return files


def client_context() -> ssl.SSLContext:
    """What a client verifies servers with: ``RAYPACHY_CA_FILE``'s CAs, else the system's."""
    cafile = os.environ.get(CA_ENV) or None
    if cafile is not None and not os.path.isfile(cafile):
        raise InvalidArgumentError(f"{CA_ENV}={cafile}: no such file (give a PEM file of CAs)")
    try:
        return ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError) as e:
        raise InvalidArgumentError(f"{CA_ENV}={cafile}: not a PEM file of CAs ({e})") from None


def pinned_context(cert: str) -> ssl.SSLContext:
    """Trusts exactly the certificate in ``cert`` under any name: a server checking itself."""
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the anchor
    return context


def untrusted(error: BaseException) -> str | None:
    """Why the server's certificate was refused, if that is what ``error`` is."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or seen)
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return str(seen).split("certificate verify failed:", 1)[-1].strip(" ()_") or str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def untrusted_message(address: str, reason: str) -> str:
    return (
        f"the raypachy API at {address} presented a certificate this client does not trust "
        f"({reason}): set {CA_ENV} to the PEM file of the CA that signed it (or of the "
        "certificate itself, if self-signed)"
    )
