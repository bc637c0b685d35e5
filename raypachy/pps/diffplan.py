"""Planning a job from what changed since the job before it.

When the job before left a complete record of its datums (``PPS.diff_base``: it succeeded,
none failed, same version and salt), a datum none of whose files changed has the same hash,
so it is skipped and keeps its outputs: only the datums holding a changed path need a look.
A commit's tree is a stack of manifests sorted by path, and a child commit shares its
parent's layers: the layers two commits share are skipped whole, and only the paths written
by the layers they do not share can differ (a directory delete brings the paths it hid).
The glob matches holding those paths are planned again from the new commit (and from the
old one, to know which went away), so the cost follows the change, not the input's size.

The full plan runs instead (``diff_plan`` gives None) for: cross and join inputs (a changed
item changes its datum with every item of the other side, and join keys pair items across
inputs), group inputs (a changed file can move between groups), nested combinators, union
members sharing (name, repo, branch) (their datums are deduplicated across members), the
glob ``/`` (the whole repo is one datum: listing it is the job), a missing input commit,
and a change touching more than a quarter of the previous datums (the full plan is then as
cheap, and simpler).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from raypachy.pfs.glob import GlobPattern, clean_pattern, compile_glob
from raypachy.pps.datums import (
    Datum,
    DatumInput,
    InputCommits,
    cron_as_pfs,
    datum_hash,
    datum_id,
    input_key,
    match_items,
)
from raypachy.pps.spec import Input, PfsInput
from raypachy.storage import ManifestStore, Tree, tree_of
from raypachy.storage.entries import FileData
from raypachy.storage.manifest import ManifestInfo

#: (repo, commit id) -> the manifests of that commit, bottom first.
LayerLister = Callable[[str, str], list[ManifestInfo]]


@dataclass(frozen=True, slots=True)
class DiffPlan:
    """The datums that may have changed, as the new commits have them; the ids of datums
    the old commits had and the new ones do not; how many datums the job has in all."""

    datums: list[Datum]
    gone: list[str]
    total: int


def _leaves(root: Input, pipeline: str) -> list[PfsInput] | None:
    """The pfs inputs of a tree the diff can plan, in the full plan's order; else None."""
    kind = root.kind()
    if kind == "pfs":
        assert root.pfs is not None
        return [root.pfs]
    if kind == "cron":
        assert root.cron is not None
        return [cron_as_pfs(root.cron, pipeline)]
    if kind != "union":
        return None
    leaves: list[PfsInput] = []
    for child in root.union or []:
        sub = _leaves(child, pipeline) if child.kind() in ("pfs", "cron") else None
        if sub is None:
            return None
        leaves += sub
    leaves.sort(key=lambda p: p.input_name)  # sub-inputs are ordered by name
    if len({input_key(p) for p in leaves}) != len(leaves):
        return None
    return leaves


def _changed_paths(
    manifests: ManifestStore, old: list[ManifestInfo], new: list[ManifestInfo], limit: int
) -> tuple[set[str], list[str]] | None:
    """Paths written by the layers the two commits do not share, and the directories
    deleted there; None past ``limit`` paths."""
    shared = 0
    while shared < min(len(old), len(new)) and old[shared].id == new[shared].id:
        shared += 1
    paths: set[str] = set()
    dirs: list[str] = []
    for layer in [*old[shared:], *new[shared:]]:
        if not layer.rows:
            continue
        if len(paths) + layer.rows > limit:
            return None
        for entry in manifests.open(layer.id):
            if entry.is_dir_delete:
                dirs.append(entry.path)
            else:
                paths.add(entry.path)
    return paths, dirs


def _affected(paths: Iterable[str], glob: GlobPattern) -> set[str]:
    """The glob matches (``/dir`` for a directory) whose contents hold one of ``paths``."""
    out: set[str] = set()
    for path in paths:
        pos = path.find("/", 1)
        while pos != -1:
            if glob.match(path[:pos]):
                out.add(path[:pos])
            pos = path.find("/", pos + 1)
        if glob.match(path):
            out.add(path)
    return out


def _items(pfs: PfsInput, commit: str, tree: Tree, matches: set[str]) -> list[DatumInput]:
    """The items of ``matches`` in ``tree``, each complete (a directory with its subtree)."""
    files: dict[str, FileData] = {}
    for match in sorted(matches):
        data = tree.lookup(match)
        if data is not None:
            files[match] = data
        pos = match.find("/", 1)
        enclosed = False
        while pos != -1 and not enclosed:
            enclosed = match[:pos] in matches
            pos = match.find("/", pos + 1)
        if not enclosed:  # else the enclosing match's scan brought this subtree
            files.update(tree.scan(match + "/"))
    listed = sorted(files.items())
    return [i for i in match_items(pfs, commit, listed) if i.path.rstrip("/") in matches]


def diff_plan(
    root: Input,
    pipeline: str,
    salt: str,
    old: InputCommits,
    new: InputCommits,
    layers: LayerLister,
    manifests: ManifestStore,
    previous_total: int,
) -> DiffPlan | None:
    """Plan from the change between the old job's input commits and the new ones (see the
    module docstring); None when only the full plan is known to be right."""
    leaves = _leaves(root, pipeline)
    if leaves is None:
        return None
    limit = max(1000, previous_total // 4)
    datums: list[Datum] = []
    gone: list[str] = []
    total = previous_total
    for pfs in leaves:
        key = input_key(pfs)
        before, after = old.get(key), new.get(key)
        if before is None or after is None:
            return None
        pattern = clean_pattern(pfs.glob)
        if pattern == "/":
            return None
        if before == after:
            continue
        old_layers, new_layers = layers(pfs.repo, before), layers(pfs.repo, after)
        changed = _changed_paths(manifests, old_layers, new_layers, limit)
        if changed is None:
            return None
        paths, dirs = changed
        old_tree, new_tree = tree_of(manifests, old_layers), tree_of(manifests, new_layers)
        for prefix in dirs:  # the files a directory delete hid, or that now fill it again
            paths.update(p for p, _ in old_tree.scan(prefix))
            paths.update(p for p, _ in new_tree.scan(prefix))
            if len(paths) > limit:
                return None
        matches = _affected(paths, compile_glob(pattern))
        was = _items(pfs, before, old_tree, matches)
        now = _items(pfs, after, new_tree, matches)
        total += len(now) - len(was)
        ids_now = set()
        for item in now:
            part = (item,)
            did = datum_id(part)
            ids_now.add(did)
            datums.append(Datum(did, datum_hash(did, part, salt), part))
        gone += [d for d in (datum_id((i,)) for i in was) if d not in ids_now]
    return DiffPlan(datums, gone, total)
