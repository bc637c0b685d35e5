"""The SQLite metadata store (the default): the only code in raypachy that writes SQL."""

from raypachy.pfs.metadata.sqlite.store import SqliteStore, SqliteTx

__all__ = ["SqliteStore", "SqliteTx"]
