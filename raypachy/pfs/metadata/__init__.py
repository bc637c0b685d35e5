"""The metadata store: repos, branches, commits, provenance, leases, locks, and the rows of
pipelines, jobs and datums, behind one interface (``interface``) with typed records
(``records``). Two implementations: SQLite (a file, the default) and PostgreSQL
(``postgresql://...``, for teams); ``open_store`` picks one from a location.
"""

from __future__ import annotations

from collections.abc import Callable

from raypachy.errors import InvalidArgumentError
from raypachy.pfs.metadata.interface import (
    AuthStatements,
    MetadataStore,
    PfsStatements,
    PpsStatements,
    Tx,
)
from raypachy.pfs.metadata.locations import POSTGRES_FORM, is_postgres_url, mask, store_location
from raypachy.pfs.metadata.records import (
    AuditRecord,
    BranchRecord,
    CheckpointDatum,
    CheckpointRecord,
    CommitId,
    CommitPosition,
    CommitRecord,
    DatumCounts,
    DatumId,
    DatumInputRecord,
    DatumRecord,
    DatumStateRecord,
    JobId,
    JobInput,
    JobRecord,
    LeaseRecord,
    LockRecord,
    PipelineRecord,
    PipelineVersion,
    PipelineVersionRecord,
    RepoRecord,
    RoleBindingRecord,
    TokenRecord,
    TransactionRecord,
    as_job_id,
)

__all__ = [
    "AuditRecord",
    "AuthStatements",
    "BranchRecord",
    "CheckpointDatum",
    "CheckpointRecord",
    "CommitId",
    "CommitPosition",
    "CommitRecord",
    "DatumCounts",
    "DatumId",
    "DatumInputRecord",
    "DatumRecord",
    "DatumStateRecord",
    "JobId",
    "JobInput",
    "JobRecord",
    "LeaseRecord",
    "LockRecord",
    "MetadataStore",
    "PfsStatements",
    "PipelineRecord",
    "PipelineVersion",
    "PipelineVersionRecord",
    "PpsStatements",
    "RepoRecord",
    "RoleBindingRecord",
    "TokenRecord",
    "TransactionRecord",
    "Tx",
    "as_job_id",
    "open_store",
    "store_location",
]


def open_store(location: str, before_write: Callable[[], None] | None = None) -> MetadataStore:
    """The metadata store at ``location``, its tables brought up to this version's schema:
    a PostgreSQL URL (``postgresql://user[:password]@host[:port]/database``), or the path of
    a SQLite database file (created if missing).

    ``before_write`` runs before each write transaction and may refuse it by raising.
    """
    if is_postgres_url(location):
        from raypachy.pfs.metadata.postgres import PostgresStore

        return PostgresStore(location, before_write)
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise InvalidArgumentError(
            f"metadata store {mask(location)}: {scheme}:// is not supported; give "
            f"{POSTGRES_FORM} or the path of a SQLite database file"
        )
    from raypachy.pfs.metadata.sqlite import SqliteStore

    return SqliteStore(location, before_write)
