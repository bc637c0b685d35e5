"""Following a branch: yield each new finished commit as it appears."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

from raypachy.pfs.model import Commit

#: How many of the newest commits a look at the branch reads first.
WINDOW = 64


def follow_branch(
    history: Callable[[int], list[Commit]],
    timeout: float | None,
    from_start: bool,
    changed: Callable[[int | None, float], int | None] | None = None,
) -> Iterator[Commit]:
    """Yield unseen finished commits, oldest first, as they appear on a branch.

    ``history(n)`` gives the branch's newest ``n`` commits, newest first; only as many are
    read as it takes to reach one already seen. ``changed(version, seconds)`` blocks until
    something changed after ``version`` and returns the new version (without it, poll).
    """
    seen: set[str] = set()

    def unseen() -> list[Commit]:
        n = WINDOW
        while True:
            recent = history(n)
            fresh = list(itertools.takewhile(lambda c: c.id not in seen, recent))
            if len(fresh) < len(recent) or len(recent) < n:
                return fresh
            n *= 4

    version = changed(None, 0) if changed else None
    if not from_start:  # what is finished now is old (an open head is yielded once finished)
        seen.update(c.id for c in history(WINDOW) if c.finished is not None)
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        for commit in reversed(unseen()):
            if commit.finished is None:
                break
            seen.add(commit.id)
            yield commit
        left = 30.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
        if changed is None:
            time.sleep(min(0.05, left))
        else:
            version = changed(version, min(left, 30.0))
