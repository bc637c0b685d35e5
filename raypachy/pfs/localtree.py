"""The files of a local directory to upload (``put file -r``), never what lies outside it.

A data set downloaded from elsewhere may hold symlinks to ``/proc/self/environ`` or to a
private key. As Pachyderm does, links that leave the directory are skipped (and named), as
are dangling links and what is neither a file nor a directory; links that stay inside it
are followed.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LocalTree:
    files: tuple[tuple[str, Path], ...]  # (path relative to the root, the file to read), sorted
    skipped: tuple[str, ...]  # "<relative path> -> <target> (why)", sorted


def warn_skipped(skipped: list[str], root: str | os.PathLike[str]) -> None:
    """Say which links ``put_dir`` left out (the CLI prints them itself)."""
    if skipped:
        shown = "; ".join(skipped[:10]) + (
            f"; and {len(skipped) - 10} more" if skipped[10:] else ""
        )
        warnings.warn(f"skipped {len(skipped)} link(s) under {root}: {shown}", stacklevel=3)


def local_tree(root: str | os.PathLike[str]) -> LocalTree:
    """Every file under ``root`` that stays inside it, following links that do."""
    real_root = Path(root).resolve()
    files: list[tuple[str, Path]] = []
    skipped: list[str] = []
    # (relative prefix, the real directory, the real directories followed to it: no loops)
    stack: list[tuple[str, Path, frozenset[Path]]] = [("", real_root, frozenset({real_root}))]
    while stack:
        prefix, directory, above = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                path = Path(entry.path)
                if entry.is_symlink():
                    try:
                        target = path.resolve(strict=True)
                    except (OSError, RuntimeError):
                        skipped.append(f"{rel} -> {os.readlink(path)} (dangling or a loop)")
                        continue
                    if not target.is_relative_to(real_root):
                        skipped.append(f"{rel} -> {target} (outside {root})")
                        continue
                    if target.is_dir():
                        if target in above or directory.is_relative_to(target):
                            skipped.append(f"{rel} -> {target} (a loop)")
                        else:
                            stack.append((f"{rel}/", target, above | {target}))
                    elif target.is_file():
                        files.append((rel, target))
                    else:
                        skipped.append(f"{rel} -> {target} (not a regular file)")
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((f"{rel}/", path, above))
                elif entry.is_file(follow_symlinks=False):
                    files.append((rel, path))
                else:
                    skipped.append(f"{rel} (not a regular file)")
    return LocalTree(tuple(sorted(files)), tuple(sorted(skipped)))
