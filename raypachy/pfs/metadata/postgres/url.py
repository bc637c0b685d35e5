"""PostgreSQL URLs checked before anything connects, with the defaults raypachy adds."""

from __future__ import annotations

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from raypachy.errors import InvalidArgumentError
from raypachy.pfs.metadata.locations import POSTGRES_FORM, hide_secret, mask

#: Set unless the URL sets them: a host that never answers fails within seconds, and the
#: server's activity view names who holds each connection.
DEFAULTS = {"connect_timeout": "10", "application_name": "raypachy"}


def one_line(text: str) -> str:
    """A driver's message (libpq's spans lines, with tabs) as one line."""
    return "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def conninfo(url: str) -> str:
    """The connection string for ``url`` with our defaults; ``InvalidArgumentError`` naming
    the URL (password masked) when it cannot be one."""
    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as e:
        raise InvalidArgumentError(
            f"invalid metadata store URL {mask(url)}: {hide_secret(one_line(str(e)), url)}; "
            f"give {POSTGRES_FORM}"
        ) from None
    ports = str(params.get("port") or "").split(",")
    if any(p and not p.isdigit() for p in ports):
        raise InvalidArgumentError(
            f"invalid metadata store URL {mask(url)}: port {params['port']!r} is not a number; "
            f"give {POSTGRES_FORM}"
        )
    return make_conninfo(url, **{k: v for k, v in DEFAULTS.items() if k not in params})
