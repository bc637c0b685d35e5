"""Secrets: kept out of errors, logs, specs and outputs; the API token checked by hash.

The values of ``RAYPACHY_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ACCESS_KEY_ID`` and
``AWS_SESSION_TOKEN`` in this process's environment are replaced by ``***`` in every message
raypachy shows. A pipeline spec may not carry secrets: an ``env`` entry whose name looks like
one is refused (set it in the workers' environment, e.g. from a Kubernetes Secret).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

SECRET_ENV = ("RAYPACHY_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|API_KEY|PRIVATE_KEY)", re.I)


def redact(text: str) -> str:
    """``text`` with the values of known secret variables replaced by ``***``."""
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(presented: str, expected_hash: str) -> bool:
    return hmac.compare_digest(token_hash(presented), expected_hash)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
