"""Bytes only: backends, content-addressed chunks, manifests and layered trees.

Nothing here knows about repos, commits or pipelines.
"""

from raypachy.storage.backend import Backend, open_backend
from raypachy.storage.chunkstore import ChunkStore
from raypachy.storage.entries import ChunkRef, Entry, FileData, Op
from raypachy.storage.ingest import FileSetWriter
from raypachy.storage.manifest import Manifest, ManifestInfo, ManifestStore
from raypachy.storage.reader import iter_bytes, read_bytes
from raypachy.storage.tree import Tree, merge_layers, tree_of

__all__ = [
    "Backend",
    "ChunkRef",
    "ChunkStore",
    "Entry",
    "FileData",
    "FileSetWriter",
    "Manifest",
    "ManifestInfo",
    "ManifestStore",
    "Op",
    "Tree",
    "iter_bytes",
    "merge_layers",
    "open_backend",
    "read_bytes",
    "tree_of",
]
