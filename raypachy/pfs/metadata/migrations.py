"""The numbered schema migrations of a metadata store, applied or pending, as
``raypachy migrate`` shows them. Reading them changes nothing (a missing SQLite file stays
missing); ``open_store`` applies what is pending."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from raypachy.pfs.metadata.locations import is_postgres_url, mask


@dataclass(frozen=True, slots=True)
class MigrationState:
    version: int
    description: str
    applied: float | None  # when it was applied (seconds since the epoch); None: pending


def migration_states(location: str) -> list[MigrationState]:
    """Every migration this raypachy knows for the store at ``location``, oldest first;
    ``BackendError`` for a database of a newer raypachy."""
    have: dict[int, float] = {}
    if is_postgres_url(location):
        from raypachy.pfs.metadata.postgres import schema as pg
        from raypachy.pfs.metadata.postgres.pool import connect

        with connect(location, mask(location)) as conn:
            pg.pending(conn, mask(location))  # refuses a newer database
            have = pg.applied(conn)
        known = [(m.version, m.description) for m in pg.MIGRATIONS]
    else:
        from raypachy.pfs.metadata.sqlite import schema as lite

        if os.path.exists(location):
            uri = Path(os.path.abspath(location)).as_uri() + "?mode=ro"
            db = sqlite3.connect(uri, uri=True)
            try:
                lite.pending(db, location)  # refuses a newer database
                have = lite.applied(db)
            finally:
                db.close()
        known = [(m.version, m.description) for m in lite.MIGRATIONS]
    return [MigrationState(v, d, have.get(v)) for v, d in known]
