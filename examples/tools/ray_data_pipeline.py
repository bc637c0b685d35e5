"""An incremental Ray Data pipeline: each commit runs the dataset on its new datums only.

    python examples/tools/ray_data_pipeline.py [--repo notes] [--name wordcount]

Uses the installation at RAYPACHY_ADDRESS (or the local one, started if needed). The
pipeline function gets the job's new and changed datums as one ``ray.data.Dataset`` (one
row per file: ``datum_id``, ``input``, ``path``, ``bytes``) and returns one row per output
file (``datum_id``, ``path``, ``bytes``). Here an actor pool counts words (``__init__`` once
per actor is where a model would load; add ``num_gpus=1`` there for a GPU). Each actor holds
its CPU for the whole run: ``--concurrency`` more than the cluster's CPUs minus one leaves
no room for the tasks that read and write, and the run waits for ever.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import raypachy

parser = argparse.ArgumentParser()
parser.add_argument("--repo", default="notes")
parser.add_argument("--name", default="wordcount")
parser.add_argument("--concurrency", type=int, default=1)
args = parser.parse_args()


class CountWords:
    def __init__(self) -> None:
        self.ignored = {"the", "a", "of"}  # stands for a model loaded once per actor

    def __call__(self, batch: dict) -> dict:  # type: ignore[type-arg]
        counts = []
        for data in batch["bytes"]:
            words = [w for w in data.decode().lower().split() if w not in self.ignored]
            counts.append(json.dumps({w: words.count(w) for w in sorted(set(words))}).encode())
        return {
            "datum_id": batch["datum_id"],
            "path": [p.rsplit(".", 1)[0] + ".json" for p in batch["path"]],
            "bytes": counts,
        }


@raypachy.pipeline(input=raypachy.pfs(args.repo, glob="/*"), name=args.name, dataset=True)
def wordcount(ds):  # type: ignore[no-untyped-def]
    """Count the words of each note."""
    return ds.map_batches(CountWords, concurrency=args.concurrency, batch_size=16)


client = raypachy.connect()
client.create_repo(args.repo, update=True)
with client.modify(f"{args.repo}@master") as m:
    m.put("/monday.txt", b"the cat sat on the mat")
    m.put("/tuesday.txt", b"a dog and a cat")
client.create_pipeline(wordcount)


def job_of(commit_id: str) -> Any:
    """The job a commit started (it shares the commit's global id), once it has ended."""
    client.wait_commit_set(commit_id, timeout=600)
    return client.inspect_job(args.name, commit_id)


def first_job() -> Any:
    """The job creating the pipeline started (over the data already there)."""
    while (job_id := client.inspect_pipeline(args.name).last_job) is None:
        time.sleep(0.2)
    return client.wait_job(args.name, job_id, timeout=600)


def report(job: Any) -> None:
    d = job.datums
    print(f"job {job.id[:8]}: {job.state}, {d.processed} processed, {d.skipped} skipped")
    for f in client.list_files(f"{args.name}@master", "/"):
        print(" ", f.path, client.get_file(f"{args.name}@master", f.path).decode())


report(first_job())  # both notes
second = client.put_file(f"{args.repo}@master", "/wednesday.txt", b"the cat and the hat")
report(job_of(second.id))  # only wednesday's datum runs; the others keep their outputs
third = client.delete_file(f"{args.repo}@master", "/monday.txt")
report(job_of(third.id))  # monday's output goes, without running anything
client.close()
