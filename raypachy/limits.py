"""Limits that keep one request from taking the service down, each set by an env variable.

| variable | default | what it bounds |
|---|---|---|
| ``RAYPACHY_MAX_DATUMS`` | 1,000,000 | datums one job may plan (counted before any is made) |
| ``RAYPACHY_MAX_WAITS_PER_CLIENT`` | 64 | waits open at once per client address |
| ``RAYPACHY_MAX_CODE_BYTES`` | 64 MiB | one ``/v1/code`` upload |
| ``RAYPACHY_MAX_UPLOAD_BYTES`` | 5 GiB | one file put through the API (``/v1/files/upload``) |

The values are read when they are needed, so a running server follows its environment.
"""

from __future__ import annotations

import os

from raypachy.errors import InvalidArgumentError

#: Datums a preview shows unless the call asks for more (``list datum -f --limit``).
PREVIEW_DATUMS = 10_000
#: Entries in one page of a listing; clients follow the ``next`` link for the rest.
PAGE_SIZE = 10_000

_DEFAULTS = {
    "RAYPACHY_MAX_DATUMS": 1_000_000,
    "RAYPACHY_MAX_WAITS_PER_CLIENT": 64,
    "RAYPACHY_MAX_CODE_BYTES": 64 * 2**20,
    "RAYPACHY_MAX_UPLOAD_BYTES": 5 * 2**30,
}


def setting(name: str) -> int:
    """The positive integer in ``$name``, or its default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return _DEFAULTS[name]
    try:
        value = int(raw)  # 1_000_000 is fine too
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, not {raw!r}")
    return value


def max_datums() -> int:
    return setting("RAYPACHY_MAX_DATUMS")


def max_waits_per_client() -> int:
    return setting("RAYPACHY_MAX_WAITS_PER_CLIENT")


def max_code_bytes() -> int:
    return setting("RAYPACHY_MAX_CODE_BYTES")


def max_upload_bytes() -> int:
    return setting("RAYPACHY_MAX_UPLOAD_BYTES")
