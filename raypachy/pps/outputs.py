"""What a datum left in ``/pfs/out``, checked before any of it is stored.

Symbolic links are resolved inside the datum's view, the ``/pfs`` tree the transform saw, so
Pachyderm's passthrough idiom (``ln -s /pfs/in/f /pfs/out/f``) stores the input's content,
while a link leaving that tree (to a file of the worker's host) fails the datum. Output names
must be UTF-8 paths the repo can hold. Anything wrong fails only this datum, with one line
saying what, and nothing of it is stored.
"""

from __future__ import annotations

import os
import stat
from collections import deque

from raypachy.errors import DatumFailedError, InvalidPathError
from raypachy.pfs.names import normalize_path

VIEW_ROOT = "/pfs"  # where a command transform sees the scratch tree
_MAX_LINKS = 40  # as the kernel's ELOOP limit


def _fail(message: str) -> DatumFailedError:
    return DatumFailedError(f"bad output: {message}")


def _shown(path: str) -> str:
    """A scratch path as the transform saw it, printable even when it is not UTF-8."""
    return repr(path.encode("utf-8", "surrogateescape"))[2:-1]


class OutputView:
    """Resolves the links of one datum's output inside its scratch tree ``root``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _parts(self, target: str, link: str) -> list[str]:
        """The components under ``root`` of an absolute link target, as the datum saw it."""
        for base in (VIEW_ROOT, self.root):
            if target == base or target.startswith(base + "/"):
                return [p for p in target[len(base) :].split("/") if p]
        raise _fail(
            f"{self.shown(link)} is a symlink to {_shown(target)}, outside the datum's /pfs: "
            "link only to files of the datum's inputs or outputs"
        )

    def shown(self, real: str) -> str:
        rel = real[len(self.root) :] if real.startswith(self.root) else real
        return _shown(VIEW_ROOT + rel)

    def resolve(self, link: str) -> str:
        """The real path of what the symlink ``link`` (under ``root``) points to, following
        every link on the way within the view."""
        rel = link[len(self.root) :]
        parts = deque(p for p in rel.split("/") if p)
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.popleft()
            if part == ".":
                continue
            if part == "..":
                if not done:
                    raise _fail(f"{self.shown(link)} is a symlink that climbs out of /pfs")
                done.pop()
                continue
            here = os.path.join(self.root, *done, part)
            if not os.path.islink(here):
                done.append(part)
                continue
            hops += 1
            if hops > _MAX_LINKS:
                raise _fail(f"{self.shown(link)}: too many levels of symlinks")
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
                parts.extendleft(reversed(self._parts(target, link)))
            else:
                parts.extendleft(reversed([p for p in target.split("/") if p]))
        real = os.path.join(self.root, *done)
        if not os.path.exists(real):
            raise _fail(f"{self.shown(link)} is a symlink to a missing file")
        return real


def collect(root: str, out: str) -> list[tuple[str, str]]:
    """(repo path, real local file) for every output file under ``out``, sorted by path.

    Raises ``DatumFailedError`` for a link leaving the view, a name that is not UTF-8 or not a
    valid repo path, and anything that is neither a file nor a directory.
    """
    view = OutputView(root)
    found: list[tuple[str, str]] = []
    # (repo path prefix, real directory, the (dev, inode) of the directories above it)
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [("", out, frozenset())]
    while stack:
        prefix, directory, above = stack.pop()
        st = os.stat(directory)
        here = (st.st_dev, st.st_ino)
        if here in above:
            raise _fail(f"{view.shown(directory)} is reached again through a symlink (a loop)")
        above = above | {here}
        with os.scandir(directory) as entries:
            for entry in entries:
                path = f"{prefix}/{entry.name}"
                try:
                    path.encode("utf-8")
                except UnicodeEncodeError:
                    raise _fail(
                        f"the output name {_shown(path)} is not UTF-8: name outputs in UTF-8"
                    ) from None
                try:
                    normalize_path(path, allow_root=False)
                except InvalidPathError as e:
                    raise _fail(str(e)) from None
                real = view.resolve(entry.path) if entry.is_symlink() else entry.path
                mode = os.stat(real).st_mode
                if stat.S_ISDIR(mode):
                    stack.append((path, real, above))
                elif stat.S_ISREG(mode):
                    found.append((path, real))
                else:
                    raise _fail(f"{view.shown(entry.path)} is neither a file nor a directory")
    return sorted(found)
