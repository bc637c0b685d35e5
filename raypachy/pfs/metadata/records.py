"""Rows of the metadata store as typed records (what the store reads and writes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from raypachy.pfs.model import Commit, CommitRef, utc
from raypachy.storage.manifest import ManifestInfo


def layers_to_json(layers: tuple[ManifestInfo, ...]) -> str:
    return json.dumps([[m.id, m.rows] for m in layers])


def layers_from_json(text: str) -> tuple[ManifestInfo, ...]:
    return tuple(ManifestInfo(i, r) for i, r in json.loads(text))


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A commit as stored: the public fields plus the layers that hold its files.

    ``layers`` is the finished tree (for an open commit: its parent's tree) and
    ``staged`` the layers written into the open commit so far, oldest first.
    """

    repo: str
    id: str
    branch: str | None
    parent: str | None
    origin: str
    description: str
    started: float
    finished: float | None
    error: str | None
    size_bytes: int | None
    file_count: int | None
    layers: tuple[ManifestInfo, ...]
    staged: tuple[ManifestInfo, ...]
    provenance: tuple[CommitRef, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.finished is None

    @property
    def ref(self) -> CommitRef:
        return CommitRef(self.repo, self.id)

    def with_provenance(self, provenance: tuple[CommitRef, ...]) -> CommitRecord:
        return replace(self, provenance=provenance)

    def public(self) -> Commit:
        return Commit(
            repo=self.repo,
            id=self.id,
            branch=self.branch,
            parent=self.parent,
            origin="auto" if self.origin == "auto" else "user",
            description=self.description,
            started=utc(self.started),  # type: ignore[arg-type]
            finished=utc(self.finished),
            error=self.error,
            size_bytes=self.size_bytes,
            file_count=self.file_count,
            provenance=self.provenance,
        )
