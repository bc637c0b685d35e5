"""The PostgreSQL metadata store (``postgresql://user@host/db``): one database shared by
every process of a team's installation. With ``raypachy.pfs.metadata.sqlite``, the only
code in raypachy that writes SQL."""

from raypachy.pfs.metadata.postgres.store import PostgresStore, PostgresTx

__all__ = ["PostgresStore", "PostgresTx"]
