"""Versioned data in pandas and DuckDB, notebook style (each ``# %%`` is a cell).

    python examples/tools/read_with_pandas_duckdb.py [--repo iris]

Uses the installation at RAYPACHY_ADDRESS, or the local one (started if it is not running).
Nothing here is raypachy-specific beyond the ``raypachy://`` URLs: pandas and DuckDB find
the filesystem through fsspec.
"""

# %% Put three versions of the iris data in a repo (one commit each)
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import duckdb
import fsspec
import pandas as pd

import raypachy

sys.path.insert(0, str(Path(__file__).parents[1] / "iris"))
from data import write_parts  # the iris CSV parts (bundled with scikit-learn)

parser = argparse.ArgumentParser()
parser.add_argument("--repo", default="iris")
repo = parser.parse_args().repo

client = raypachy.connect()
client.create_repo(repo, update=True)
commits = [
    client.put_file(f"{repo}@master", f"/raw/{part.name}", part)
    for part in write_parts(Path(tempfile.mkdtemp()))
]

# %% pandas reads a file of the branch head, or of any commit
df = pd.read_csv(f"raypachy://{repo}@master/raw/iris-1.csv")
print(df.groupby("species").size())

fs = fsspec.filesystem("raypachy")
print("files at the first commit:", fs.ls(f"{repo}@{commits[0].id}/raw", detail=False))
print("files now:              ", fs.glob(f"{repo}@master/raw/*.csv"))
everything = pd.concat(
    pd.read_csv(f"raypachy://{path}") for path in fs.glob(f"{repo}@master/raw/*.csv")
)
print(f"{len(everything)} flowers in {repo}@master")

# %% pandas writes too: each file written is one commit
means = everything.groupby("species").mean().reset_index()
means.to_parquet(f"raypachy://{repo}@master/summary/means.parquet")
print(pd.read_parquet(f"raypachy://{repo}@master/summary/means.parquet"))

# %% DuckDB queries the repo with SQL (globs work), through the same filesystem
con = duckdb.connect()
con.register_filesystem(fs)
rows = con.execute(
    f"""SELECT species, count(*) AS n, round(avg(petal_length), 2) AS petal
        FROM read_csv('raypachy://{repo}@master/raw/*.csv')
        GROUP BY species ORDER BY species"""
).fetchall()
for row in rows:
    print(row)
first = con.execute(
    f"SELECT count(*) FROM read_csv('raypachy://{repo}@{commits[0].id}/raw/*.csv')"
).fetchone()
print("rows at the first commit:", first[0] if first else None)
con.close()
client.close()
