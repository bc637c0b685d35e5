"""Datum sets that count before they list: an input tree as lazy combinators.

Each node knows how many datums it makes without making them (a cross multiplies its
children's counts, a union adds them, a join adds the per-key products) and yields them one
at a time, so a planner can refuse a tree of 24 million datums before holding one of them.
Only the glob matches of each pfs input are held (they are bounded by the files of the
commit), and a ``group`` holds its children's items, once their count is known to be fine.

The order of the datums is the order of ``raypachy.pps.datums``: a cross varies its last
child fastest, a union concatenates, a join goes by sorted key, a group by sorted key.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from raypachy.errors import TooManyDatumsError

if TYPE_CHECKING:
    from raypachy.pps.datums import DatumInput

Part = tuple["DatumInput", ...]


def too_many(count: int, limit: int, what: str) -> TooManyDatumsError:
    return TooManyDatumsError(
        f"the input would make {count:,} datums, more than {what} of {limit:,}: "
        "narrow the globs or split the input"
    )


class DatumSet:
    """A lazily listed collection of parts (the datums of one input node)."""

    def count(self) -> int:
        raise NotImplementedError

    def key_counts(self) -> Counter[str]:
        """How many parts have each join key (the key of a part's first item)."""
        raise NotImplementedError

    def with_key(self, key: str) -> Iterator[Part]:
        """The parts whose join key is ``key``, in order."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Part]:
        raise NotImplementedError

    @property
    def has_union(self) -> bool:
        """Whether the same part can come out twice (a union of overlapping inputs)."""
        return False


class Items(DatumSet):
    """The glob matches of one pfs input: one part per match."""

    def __init__(self, items: Sequence[DatumInput]) -> None:
        self.items = [(i,) for i in items]

    def count(self) -> int:
        return len(self.items)

    @functools.cached_property
    def _by_key(self) -> dict[str, list[Part]]:
        out: dict[str, list[Part]] = {}
        for part in self.items:
            out.setdefault(part[0].join_key, []).append(part)
        return out

    def key_counts(self) -> Counter[str]:
        return Counter({k: len(v) for k, v in self._by_key.items()})

    def with_key(self, key: str) -> Iterator[Part]:
        return iter(self._by_key.get(key, ()))

    def __iter__(self) -> Iterator[Part]:
        return iter(self.items)


class Union(DatumSet):
    def __init__(self, children: list[DatumSet]) -> None:
        self.children = children

    @functools.cached_property
    def _count(self) -> int:
        return sum(c.count() for c in self.children)

    def count(self) -> int:
        return self._count

    def key_counts(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.children:
            out.update(c.key_counts())
        return out

    def with_key(self, key: str) -> Iterator[Part]:
        for c in self.children:
            yield from c.with_key(key)

    def __iter__(self) -> Iterator[Part]:
        for c in self.children:
            yield from c

    @property
    def has_union(self) -> bool:
        return True


def _product(sources: Sequence[Callable[[], Iterator[Part]]]) -> Iterator[Part]:
    """Like ``itertools.product`` of parts, joined, without materialising any source."""
    if not sources:
        yield ()
        return
    first, rest = sources[0], sources[1:]
    for head in first():
        for tail in _product(rest):
            yield head + tail


class Cross(DatumSet):
    def __init__(self, children: list[DatumSet]) -> None:
        self.children = children

    @functools.cached_property
    def _count(self) -> int:
        return math.prod(c.count() for c in self.children)

    def count(self) -> int:
        return self._count

    def key_counts(self) -> Counter[str]:
        rest = math.prod(c.count() for c in self.children[1:])
        if not rest:
            return Counter()
        return Counter({k: n * rest for k, n in self.children[0].key_counts().items()})

    def with_key(self, key: str) -> Iterator[Part]:
        if self.count() == 0:
            return iter(())
        first = functools.partial(self.children[0].with_key, key)
        return _product([first, *(c.__iter__ for c in self.children[1:])])

    def __iter__(self) -> Iterator[Part]:
        if self.count() == 0:  # an empty child gives no datums, whatever the others hold
            return iter(())
        return _product([c.__iter__ for c in self.children])

    @property
    def has_union(self) -> bool:
        return any(c.has_union for c in self.children)


class Join(DatumSet):
    """Parts grouped by join key and crossed per key; ``outer[i]`` keeps child i's unmatched."""

    def __init__(self, children: list[DatumSet], outer: list[bool]) -> None:
        self.children = children
        self.outer = outer

    @functools.cached_property
    def _per_key(self) -> dict[str, tuple[list[int], int]]:
        """Each kept key: the children that have it, and how many parts it makes."""
        counts = [c.key_counts() for c in self.children]
        out: dict[str, tuple[list[int], int]] = {}
        for key in sorted(set().union(*counts)):
            present = [i for i, kc in enumerate(counts) if key in kc]
            if len(present) < len(self.children) and not all(self.outer[i] for i in present):
                continue
            out[key] = (present, math.prod(counts[i][key] for i in present))
        return out

    def count(self) -> int:
        return sum(n for _, n in self._per_key.values())

    def key_counts(self) -> Counter[str]:
        return Counter({k: n for k, (_, n) in self._per_key.items()})

    def with_key(self, key: str) -> Iterator[Part]:
        if key not in self._per_key:
            return iter(())
        present, _ = self._per_key[key]
        return _product([functools.partial(self.children[i].with_key, key) for i in present])

    def __iter__(self) -> Iterator[Part]:
        for key in self._per_key:
            yield from self.with_key(key)

    @property
    def has_union(self) -> bool:
        return any(c.has_union for c in self.children)


class Group(DatumSet):
    """One part per group key holding every item of every child with that key.

    A group has to see all its children's parts before it can give its first one, so it
    holds them; their number is checked against ``limit`` (``RAYPACHY_MAX_DATUMS``) first.
    """

    def __init__(self, children: list[DatumSet], limit: int) -> None:
        self.children = children
        self.limit = limit

    @functools.cached_property
    def _parts(self) -> list[Part]:
        total = sum(c.count() for c in self.children)
        if total > self.limit:
            raise TooManyDatumsError(
                f"a group input would gather {total:,} parts, more than RAYPACHY_MAX_DATUMS of "
                f"{self.limit:,}: narrow the globs or split the input"
            )
        by_key: dict[str, list[DatumInput]] = {}
        for child in self.children:
            for part in child:
                for item in part:
                    by_key.setdefault(item.group_key, []).append(item)
        return [tuple(by_key[key]) for key in sorted(by_key)]

    def count(self) -> int:
        return len(self._parts)

    def key_counts(self) -> Counter[str]:
        return Counter(p[0].join_key for p in self._parts)

    def with_key(self, key: str) -> Iterator[Part]:
        return (p for p in self._parts if p[0].join_key == key)

    def __iter__(self) -> Iterator[Part]:
        return iter(self._parts)
