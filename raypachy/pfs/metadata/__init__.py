"""The metadata store: repos, branches, commits, provenance, leases, locks, and the rows of
pipelines, jobs and datums, behind one interface (``interface``) with typed records
(``records``). SQLite is the implementation; ``open_store`` picks it from a location.
"""

from __future__ import annotations

from collections.abc import Callable

from raypachy.errors import InvalidArgumentError
from raypachy.pfs.metadata.interface import MetadataStore, PfsStatements, PpsStatements, Tx
from raypachy.pfs.metadata.records import (
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
    as_job_id,
)

__all__ = [
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
    "Tx",
    "as_job_id",
    "open_store",
]


def open_store(location: str, before_write: Callable[[], None] | None = None) -> MetadataStore:
    """The metadata store at ``location``: a SQLite database file (created if missing),
    its tables brought up to this version's schema.

    ``before_write`` runs before each write transaction and may refuse it by raising.
    """
    from raypachy.pfs.metadata.sqlite import SqliteStore

    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise InvalidArgumentError(
            f"metadata store {scheme}:// is not supported: give the path of a SQLite database file"
        )
    return SqliteStore(location, before_write)
