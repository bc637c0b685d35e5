"""Versioned data in Ray Data: read a commit, write one.

    import raypachy.data
    ds = raypachy.data.read_files("images@master:/train/**")        # path, bytes, commit
    table = raypachy.data.read_parquet("sales@master:/2024/*.parquet")
    table.write_datasink(raypachy.data.Datasink(
        "reports@master:/summary", provenance=raypachy.data.provenance_of(table)))

Like ``raypachy.runtime``, this package imports ray.
"""

from raypachy.data.datasink import Datasink
from raypachy.data.datasource import FilesDatasource
from raypachy.data.readers import (
    provenance_of,
    read_csv,
    read_files,
    read_images,
    read_parquet,
)
from raypachy.data.selection import Selection, select

__all__ = [
    "Datasink",
    "FilesDatasource",
    "Selection",
    "provenance_of",
    "read_csv",
    "read_files",
    "read_images",
    "read_parquet",
    "select",
]
