"""From inputs to datums, as Pachyderm 2.x defines them (DESIGN section 5).

Each pfs input's glob is matched against every path of its commit, files and implicit
directories; each match is one item, and a matched directory brings its whole subtree.
``cross`` is the product of its children (an empty child gives no datums), ``union``
concatenates, ``join`` groups items by the key captured with ``join_on`` and crosses them per
key (inputs marked ``outer_join`` keep their unmatched items), ``group`` makes one datum per
``group_by`` key holding every matching item of every child. Sub-inputs are ordered by name.

A plan is counted before any datum is made (``raypachy.pps.datumsets``) and refused over
``RAYPACHY_MAX_DATUMS``; within it, datums come one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import blake3

from raypachy.errors import InvalidSpecError
from raypachy.limits import max_datums
from raypachy.pfs.glob import GlobMatch, clean_pattern, compile_glob, literal_prefix
from raypachy.pps.datumsets import Cross, DatumSet, Group, Items, Join, Union, too_many
from raypachy.pps.spec import CronInput, Input, PfsInput
from raypachy.storage.entries import FileData

#: (repo, commit id) -> every file of that commit, sorted by path.
FileLister = Callable[[str, str], Iterable[tuple[str, FileData]]]
#: The commit each input reads, by ``input_key`` (or by name alone where names are unique).
InputCommits = Mapping[str | tuple[str, str, str], str]


def input_key(pfs: PfsInput) -> tuple[str, str, str]:
    """Union inputs may share a name, so an input is (name, repo, branch)."""
    return (pfs.input_name, pfs.repo, pfs.branch)


@dataclass(frozen=True, slots=True)
class DatumInput:
    """One input's share of a datum: the matched path and the files it brings."""

    name: str
    repo: str
    branch: str
    commit: str
    path: str  # the glob match: "/a.csv", or "/dir/" for a directory, or "/" for the root
    files: tuple[tuple[str, FileData], ...]
    join_key: str = ""
    group_key: str = ""
    empty_files: bool = False
    lazy: bool = False  # read on demand (named pipes, ``datum.open``), not copied first


@dataclass(frozen=True, slots=True)
class Datum:
    id: str
    hash: str
    inputs: tuple[DatumInput, ...]

    @property
    def size(self) -> int:
        return sum(d.size for i in self.inputs for _, d in i.files)


Part = tuple[DatumInput, ...]


def _expand(template: str, match: GlobMatch) -> str:
    """``$1`` (or ``${1}``) -> capture group 1 of the glob match."""

    def group(m: re.Match[str]) -> str:
        index = int(m.group(1) or m.group(2))
        try:
            return match.group(index) or ""
        except IndexError:
            raise InvalidSpecError(
                f"{template!r} uses ${index} but the glob has only {len(match.groups())} group(s)"
            ) from None

    return re.sub(r"\$(?:\{(\d+)\}|(\d+))", group, template)


def match_items(
    pfs: PfsInput, commit: str, files: Iterable[tuple[str, FileData]]
) -> list[DatumInput]:
    """The glob matches of one pfs input on one commit, in path order."""
    pattern = clean_pattern(pfs.glob)
    regex = compile_glob(pattern)
    name = pfs.input_name

    def item(path: str, members: list[tuple[str, FileData]], match: GlobMatch | None) -> DatumInput:
        join_key = _expand(pfs.join_on, match) if (pfs.join_on and match) else ""
        group_key = _expand(pfs.group_by, match) if (pfs.group_by and match) else ""
        return DatumInput(
            name, pfs.repo, pfs.branch, commit, path, tuple(members), join_key, group_key,
            pfs.empty_files, pfs.lazy,
        )  # fmt: skip

    if pattern == "/":
        everything = list(files)
        return [item("/", everything, regex.match("/"))] if everything else []
    prefix = literal_prefix(pattern)
    groups: dict[str, list[tuple[str, FileData]]] = {}
    matches: dict[str, GlobMatch] = {}
    for path, data in files:
        if not path.startswith(prefix) and prefix != "/":
            continue
        pos = path.find("/", 1)
        while pos != -1:  # implicit directories, outermost first
            directory = path[:pos]
            if directory in groups:
                groups[directory].append((path, data))
            else:
                m = regex.match(directory)
                if m:
                    matches[directory] = m
                    groups[directory] = [(path, data)]
            pos = path.find("/", pos + 1)
        m = regex.match(path)
        if m:
            matches[path] = m
            groups[path] = [(path, data)]
    out = []
    for path in sorted(groups):
        is_dir = groups[path][0][0] != path  # a file's group holds just itself
        out.append(item(path + "/" if is_dir else path, groups[path], matches[path]))
    return out


def _name(node: Input) -> str:
    leaf = node.leaves()[0]
    return leaf.input_name if isinstance(leaf, PfsInput) else leaf.name


def _children(node: Input, kind: str) -> list[Input]:
    children: list[Input] = getattr(node, kind)
    return sorted(children, key=_name)


def cron_as_pfs(cron: CronInput, pipeline: str) -> PfsInput:
    """A cron input reads the tick files its controller commits to ``<pipeline>_<name>``."""
    return PfsInput(name=cron.name, repo=cron.repo or f"{pipeline}_{cron.name}", glob="/*")


def _build(node: Input, commits: InputCommits, lister: FileLister, pipeline: str) -> DatumSet:
    kind = node.kind()
    if kind in ("pfs", "cron"):
        pfs = node.pfs if kind == "pfs" else cron_as_pfs(node.cron, pipeline)  # type: ignore[arg-type]
        assert pfs is not None
        commit = commits.get(input_key(pfs)) or commits.get(pfs.input_name)
        return Items(match_items(pfs, commit, lister(pfs.repo, commit)) if commit else [])
    nodes = _children(node, kind)
    children = [_build(c, commits, lister, pipeline) for c in nodes]
    if kind == "union":
        return Union(children)
    if kind == "cross":
        return Cross(children)
    if kind == "join":
        outer = [any(isinstance(x, PfsInput) and x.outer_join for x in n.leaves()) for n in nodes]
        return Join(children, outer)
    return Group(children, max_datums())


def datum_id(inputs: Part) -> str:
    h = blake3.blake3()
    for i in inputs:
        h.update(f"{i.name}\x00{i.repo}\x00{i.branch}\x00{i.path}\x01".encode())
    return h.hexdigest()[:32]


def datum_hash(id_: str, inputs: Part, salt: str) -> str:
    h = blake3.blake3(f"{id_}\x00{salt}\x00".encode())
    for i in inputs:
        for path, data in i.files:
            h.update(path.encode() + b"\x00" + data.hash)
    return h.hexdigest()


def plan(
    root: Input,
    commits: InputCommits,
    lister: FileLister,
    salt: str,
    pipeline: str = "",
    limit: int | None = None,
    limit_name: str = "RAYPACHY_MAX_DATUMS",
) -> Iterator[Datum]:
    """Every datum of an input tree, given the commit each input reads (see ``input_key``),
    one at a time. Counted first: ``TooManyDatumsError`` (naming the count) if there would be more
    than ``limit`` (default: ``RAYPACHY_MAX_DATUMS``), before any datum is made."""
    if limit is None:
        limit = max_datums()
    tree = _build(root, commits, lister, pipeline)
    count = tree.count()
    if count > limit:
        raise too_many(count, limit, limit_name)
    return _datums(tree, salt)


def _datums(tree: DatumSet, salt: str) -> Iterator[Datum]:
    # The same combination can be reached twice only through a union (of equal inputs).
    seen: set[str] | None = set() if tree.has_union else None
    for part in tree:
        did = datum_id(part)
        if seen is not None:
            if did in seen:
                continue
            seen.add(did)
        yield Datum(did, datum_hash(did, part, salt), part)


def iter_leaves(root: Input, pipeline: str) -> Iterator[PfsInput]:
    """Every pfs input the datums read (cron inputs as their tick repos)."""
    for leaf in root.leaves():
        yield leaf if isinstance(leaf, PfsInput) else cron_as_pfs(leaf, pipeline)
