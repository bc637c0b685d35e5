"""Following a branch: yield each new finished commit as it appears."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from raypachy.pfs.model import Commit


def follow_branch(
    history: Callable[[], list[Commit]], timeout: float | None, from_start: bool
) -> Iterator[Commit]:
    """Poll ``history`` (newest first) and yield unseen finished commits, oldest first."""
    seen: set[str] = set() if from_start else {c.id for c in history()}
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        fresh = [c for c in history() if c.id not in seen]
        for commit in reversed(fresh):
            if commit.finished is None:
                break
            seen.add(commit.id)
            yield commit
        time.sleep(0.05)
