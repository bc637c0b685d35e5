"""Where the metadata is: a SQLite file (the default, in the home) or a PostgreSQL URL, and
how a location is shown (a URL's password never is)."""

from __future__ import annotations

import os
import re

#: Where the metadata is when nothing else says: a SQLite file in the home.
SQLITE_FILE = "metadata.db"
#: The variable that names another store (``--metadata`` of ``up`` and ``serve`` sets it).
ENV = "RAYPACHY_METADATA"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_FORM = "postgresql://user[:password]@host[:port]/database"

# userinfo's password (up to the last @ before the path) and a password= query parameter
_USERINFO_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@?]*):([^/?]*)@", re.I)
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)", re.I)


def store_location(home: str, given: str | None = None) -> str:
    """The metadata store to use: ``given``, else ``$RAYPACHY_METADATA``, else the SQLite
    file in ``home``."""
    return given or os.environ.get(ENV) or os.path.join(home, SQLITE_FILE)


def is_postgres_url(location: str) -> bool:
    return location.lower().startswith(POSTGRES_SCHEMES)


def mask(location: str) -> str:
    """The location with a URL's password (in the user part or the query) as ``***``."""
    location = _USERINFO_PASSWORD.sub(r"\1:***@", location)
    return _QUERY_PASSWORD.sub(r"\1***", location)


def hide_secret(text: str, location: str) -> str:
    """``text`` (say, a driver's error) with the location's password masked wherever it
    appears in it."""
    text = text.replace(location, mask(location))
    for pattern in (_USERINFO_PASSWORD, _QUERY_PASSWORD):
        found = pattern.search(location)
        secret = found.group(2) if found else ""
        if len(secret) >= 3:  # shorter ones would mask ordinary words
            text = text.replace(secret, "***")
    return text
