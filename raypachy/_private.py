"""Files only their owner can read: raypachy's home holds the API token, the metadata and
the data, so on a shared machine it is mode 0700 and what it holds is 0600."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` created if needed (parents too) and made readable by its owner only."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def make_dirs(path: str) -> None:
    """``os.makedirs`` with every directory it creates 0700 (it gives only the last one the
    mode; the ones above get the umask's)."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another writer made it meanwhile
            os.mkdir(directory, DIR_MODE)


def private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (empty) if it does not exist, else tighten its mode to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, FILE_MODE)
