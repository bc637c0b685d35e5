"""fsspec access to versioned data: ``raypachy://repo@ref/path`` (see ``filesystem``)."""

from raypachy.fs.filesystem import RaypachyFileSystem
from raypachy.fs.paths import FsPath, parse_fs_path

__all__ = ["FsPath", "RaypachyFileSystem", "parse_fs_path"]
