"""Ray Data over versioned data: read one commit, transform, write one commit back.

    python examples/tools/ray_data_example.py [--source images] [--out features]

Uses the installation at RAYPACHY_ADDRESS (or the local one, started if needed) and the Ray
cluster at RAY_ADDRESS (or the local installation's). The written commit records, as its
provenance, the commit the data was read from.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import ray

import raypachy
import raypachy.data
from raypachy.runtime.state import read_state

parser = argparse.ArgumentParser()
parser.add_argument("--source", default="readings")
parser.add_argument("--out", default="features")
args = parser.parse_args()

client = raypachy.connect()
state = read_state()
ray.init(address=os.environ.get("RAY_ADDRESS") or (state.gcs_address if state else "auto"),
         log_to_driver=False)  # fmt: skip
ray.data.DataContext.get_current().enable_progress_bars = False

# Some data: 8 raw files and a Parquet table, in one commit.
for name in (args.source, args.out):
    client.create_repo(name, update=True)
with client.modify(f"{args.source}@master") as m:
    for i in range(8):
        m.put(f"/raw/{i}.bin", os.urandom(1000 * (i + 1)))
    sink = io.BytesIO()
    pq.write_table(pa.table({"sensor": list(range(100)), "value": [v * 0.5 for v in range(100)]}),
                   sink)  # fmt: skip
    m.put("/table/readings.parquet", sink.getvalue())
source_commit = m.result()

# One row per file (path, bytes, commit), read on the workers straight from storage.
files = raypachy.data.read_files(f"{args.source}@master:/raw/*.bin")
digests = files.map(
    lambda r: {"path": r["path"], "size": len(r["bytes"]),
               "sha256": hashlib.sha256(r["bytes"]).hexdigest(), "commit": r["commit"]}
)  # fmt: skip
print(digests.take(2))

# Parquet (CSV, images...) through the raypachy:// filesystem, pinned to the same commit.
table = raypachy.data.read_parquet(f"{args.source}@{source_commit.id}:/table/*.parquet")
scaled = table.map_batches(lambda b: {"sensor": b["sensor"], "scaled": b["value"] * 2})

# Both results become one commit of the output repo each, with provenance.
for ds, where in ((digests, "/digests"), (scaled, "/scaled")):
    sink = raypachy.data.Datasink(
        f"{args.out}@master:{where}", mode="overwrite", provenance=raypachy.data.provenance_of(ds)
    )
    ds.write_datasink(sink)
    print(f"wrote {where} in commit {sink.commit.id if sink.commit else None}")

head = client.inspect_commit(f"{args.out}@master")
print("provenance of the output:", [str(p) for p in head.provenance])
print([f.path for f in client.list_files(f"{args.out}@master", "/scaled")])
ray.shutdown()
client.close()
