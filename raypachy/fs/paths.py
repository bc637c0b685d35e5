"""``raypachy://`` paths: ``repo@ref/path`` with ``ref`` a branch, a commit id or ``branch^N``.

A bare ``repo`` means its default branch. ``project/repo@ref/path`` names a repo of another
project (Pachyderm 2.5+); ``default/repo@ref/path`` names the same place as ``repo@ref/path``.
"""

from __future__ import annotations

from dataclasses import dataclass

from raypachy.errors import InvalidAddressError
from raypachy.pfs.address import parse_address
from raypachy.pfs.names import is_commit_id, normalize_path
from raypachy.pfs.refs import DEFAULT_BRANCH

PROTOCOL = "raypachy"
DEFAULT_PROJECT = "default"


def prefix_key(project: str, spec: str) -> str:
    """``repo@ref`` of ``project`` as an address (``project/repo@ref``; plain in default)."""
    return spec if project == DEFAULT_PROJECT else f"{project}/{spec}"


@dataclass(frozen=True, slots=True)
class FsPath:
    """A parsed ``raypachy://`` path. ``prefix`` is the repo part as written, so that the
    names this filesystem returns start with what the caller asked for."""

    prefix: str
    repo: str
    ref: str
    ancestry: int
    path: str  # absolute and normalised; "/" is the repo's root

    @property
    def target(self) -> str:
        """The pachctl-style address of the commit: ``repo@ref^N``."""
        return f"{self.repo}@{self.ref}" + (f"^{self.ancestry}" if self.ancestry else "")

    @property
    def pinned(self) -> bool:
        """Does the path name one commit forever (a commit id, no ancestry)?"""
        return is_commit_id(self.ref) and not self.ancestry

    def name(self, path: str) -> str:
        """The fsspec name of ``path`` in the same commit, as the caller spelled it."""
        path = path.rstrip("/")
        return self.prefix + path if path else self.prefix

    def at(self, commit_id: str) -> FsPath:
        """The same path pinned to one commit."""
        return FsPath(f"{self.repo}@{commit_id}", self.repo, commit_id, 0, self.path)


def parse_fs_path(text: str) -> FsPath | None:
    """Parse a path without its protocol; None is the root (where the repos are)."""
    text = text.strip("/")
    if not text:
        return None
    parts = text.split("/")
    if "@" not in parts[0] and len(parts) > 1 and "@" in parts[1]:
        prefix, spec, rest = f"{parts[0]}/{parts[1]}", prefix_key(parts[0], parts[1]), parts[2:]
    else:
        prefix, spec, rest = parts[0], parts[0], parts[1:]
    if ":" in spec:
        raise InvalidAddressError(
            f"raypachy://{text}: write the path after a '/', e.g. raypachy://{spec.split(':')[0]}/"
            "data.csv"
        )
    addr = parse_address(spec)
    try:
        path = normalize_path("/" + "/".join(rest))
    except ValueError as e:
        raise InvalidAddressError(f"raypachy://{text}: {e}") from None
    return FsPath(prefix, addr.repo, addr.ref or DEFAULT_BRANCH, addr.ancestry, path)
