"""Keeping layer stacks shallow: merge the top layers like a binary counter.

After a commit adds its layer, the top two layers are merged while the top one has at
least as many rows as the one under it. Each row is then rewritten O(log n) times over
its life, a stack stays O(log n) deep, and a small commit on a huge repo merges nothing:
its cost follows the size of the change, not of the repo.
"""

from __future__ import annotations

from raypachy.storage.manifest import ManifestInfo, ManifestStore
from raypachy.storage.tree import merge_layers

MAX_DEPTH = 24


def compact(store: ManifestStore, stack: list[ManifestInfo]) -> list[ManifestInfo]:
    """Return an equivalent stack (bottom first), merging top layers where due."""
    stack = [m for m in stack if m.rows > 0]
    while len(stack) >= 2 and (stack[-1].rows >= stack[-2].rows or len(stack) > MAX_DEPTH):
        lower, upper = stack[-2], stack[-1]
        merged = merge_layers([store.open(lower.id), store.open(upper.id)], bottom=len(stack) == 2)
        stack[-2:] = [store.put(merged)]
        stack = [m for m in stack if m.rows > 0]
    return stack
