"""Which files ``repo@ref:/glob`` names, read from one commit (no Ray here).

The glob is Pachyderm's (as for pipeline inputs): ``*`` stays in one path segment, ``**``
crosses them, and a matched directory brings every file below it. No glob means ``/``: the
whole repo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raypachy.errors import PathNotFoundError
from raypachy.pfs.address import Address, parse_address
from raypachy.pfs.glob import clean_pattern, compile_glob, literal_prefix
from raypachy.pfs.model import CommitRef
from raypachy.storage.entries import FileData


@dataclass(frozen=True, slots=True)
class Selection:
    """The files a glob matched in one commit, with where their bytes are."""

    commit: CommitRef
    pattern: str
    files: tuple[tuple[str, FileData], ...]

    @property
    def size_bytes(self) -> int:
        return sum(data.size for _, data in self.files)

    def fs_paths(self) -> list[str]:
        """The files as ``raypachy://`` paths pinned to the commit (without the protocol)."""
        return [f"{self.commit.repo}@{self.commit.id}{path}" for path, _ in self.files]


def _selected(path: str, pattern: str, regex: Any) -> bool:
    if pattern == "/" or regex.match(path):
        return True
    pos = path.find("/", 1)
    while pos != -1:  # a matched directory brings its whole subtree
        if regex.match(path[:pos]):
            return True
        pos = path.find("/", pos + 1)
    return False


def select(client: Any, spec: str) -> Selection:
    """Resolve ``repo@ref:/glob`` to one commit (once) and the files the glob matches.

    ``repo`` alone is its default branch, without a glob the whole repo."""
    addr = parse_address(spec)
    commit = client.inspect_commit(str(Address(addr.repo, addr.ref, addr.ancestry, None)))
    ref = CommitRef(commit.repo, commit.id)
    pattern = clean_pattern(addr.path or "/")
    regex = compile_glob(pattern)
    try:
        found = client.walk_data(str(ref), literal_prefix(pattern) or "/")
    except PathNotFoundError:
        found = []
    files = tuple((p, d) for p, d in found if _selected(p, pattern, regex))
    if not files:
        raise PathNotFoundError(f"no file matches {pattern} in {ref}")
    return Selection(ref, pattern, files)
