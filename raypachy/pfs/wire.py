"""JSON forms of the domain objects, shared by the HTTP server and the client.

Field names are the public contract (``-o json`` prints the same): repos ``name``,
``created``, ``size_bytes``; commits ``id``, ``repo``, ``branch``, ``parent``, ``started``,
``finished``, ``size_bytes``, ``error``, ``provenance``; branches ``name``, ``head``; files
``path``, ``type``, ``size_bytes``, ``hash``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from raypachy.pfs.model import (
    Branch,
    Commit,
    CommitRef,
    FileChange,
    FileInfo,
    FsckReport,
    GCReport,
    Problem,
    Repo,
)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def repo(d: dict[str, Any]) -> Repo:
    return Repo(d["name"], _dt(d["created"]), d["description"], d["size_bytes"])  # type: ignore[arg-type]


def branch(d: dict[str, Any]) -> Branch:
    return Branch(d["repo"], d["name"], d["head"])


def commit_ref(d: dict[str, Any]) -> CommitRef:
    return CommitRef(d["repo"], d["id"])


def commit(d: dict[str, Any]) -> Commit:
    return Commit(
        repo=d["repo"],
        id=d["id"],
        branch=d["branch"],
        parent=d["parent"],
        origin=d["origin"],
        description=d["description"],
        started=_dt(d["started"]),  # type: ignore[arg-type]
        finished=_dt(d["finished"]),
        error=d["error"],
        size_bytes=d["size_bytes"],
        file_count=d["file_count"],
        provenance=tuple(commit_ref(p) for p in d["provenance"]),
    )


def file_info(d: dict[str, Any]) -> FileInfo:
    return FileInfo(d["path"], d["type"], d["size_bytes"], d["hash"], commit_ref(d["commit"]))


def file_change(d: dict[str, Any]) -> FileChange:
    return FileChange(
        d["path"],
        d["change"],
        None if d["old"] is None else file_info(d["old"]),
        None if d["new"] is None else file_info(d["new"]),
    )


def gc_report(d: dict[str, Any]) -> GCReport:
    return GCReport(**d)


def fsck_report(d: dict[str, Any]) -> FsckReport:
    problems = tuple(Problem(**p) for p in d.pop("problems"))
    return FsckReport(**d, problems=problems)


def file_data_to_json(path: str, data: Any) -> dict[str, Any]:
    """A file's content reference: where its bytes are, for clients that read chunks."""
    return {
        "path": path,
        "size": data.size,
        "hash": data.hash.hex(),
        "refs": [[r.chunk.hex(), r.offset, r.length] for r in data.refs],
    }


def file_data_from_json(d: dict[str, Any]) -> tuple[str, Any]:
    from raypachy.storage.entries import ChunkRef, FileData

    refs = tuple(ChunkRef(bytes.fromhex(c), o, n) for c, o, n in d["refs"])
    return d["path"], FileData(d["size"], bytes.fromhex(d["hash"]), refs)
