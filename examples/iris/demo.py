"""The main example: iris, from raw CSV files to predictions, incrementally, with lineage.

Run with ``make demo``: it starts the embedded default (a local Ray head and the raypachy
control plane), runs everything, and stops it again.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _demo import fresh_installation, sh, sh_json  # noqa: E402
from data import write_parts  # noqa: E402


def wait_for(commit_id: str) -> None:
    sh(f"raypachy wait commit {commit_id}")
    sh(f"raypachy list job {commit_id}")


def head(repo: str) -> str:
    commit: str = sh_json(f"raypachy inspect commit {repo}@master -o json")["id"]
    return commit


def main() -> None:
    fresh_installation("raypachy-iris-")
    try:
        walkthrough()
    finally:
        sh("raypachy down")


def walkthrough() -> None:
    parts = write_parts(Path(tempfile.mkdtemp(prefix="iris-")))
    print("\n# 1. Version the raw data: the first of three CSV files")
    sh("raypachy create repo iris -d 'iris flowers, raw CSV parts'")
    sh(f"raypachy put file iris@master:/raw/{parts[0].name} -f {parts[0]}")

    print("\n# 2. Pipelines: per-file features -> a model trained on all -> predictions")
    sh(f"raypachy create pipeline --python {HERE / 'pipelines.py'}")
    sh("raypachy list pipeline")
    # Creating `features` started a job on the data already there; `train` and `predict`
    # run downstream of it under the same global id.
    wait_for(sh_json("raypachy inspect pipeline features -o json")["last_job"])
    sh("raypachy get file train@master:/metrics.json")
    sh("raypachy list file predict@master")

    print("\n# 3. New data lands: only the new file's datum runs in `features`")
    sh(f"raypachy put file iris@master:/raw/{parts[1].name} -f {parts[1]}")
    second = head("iris")
    wait_for(second)
    sh(f"raypachy list datum features@{second}")
    sh("raypachy get file train@master:/metrics.json")

    print("\n# 4. New code: train v2 (logistic regression), reprocessing what it computed")
    sh(f"raypachy update pipeline --python {HERE / 'train_v2.py'} --reprocess")
    wait_for(sh_json("raypachy inspect pipeline train -o json")["last_job"])
    sh(f"raypachy put file iris@master:/raw/{parts[2].name} -f {parts[2]}")
    wait_for(head("iris"))
    sh("raypachy get file train@master:/metrics.json")
    sh("raypachy logs -p train")

    print("\n# 5. Lineage: from one prediction back to the raw file and the code versions")
    sh(f"raypachy lineage predict@master:/{parts[2].name}")
    sh("raypachy lineage iris@master")


if __name__ == "__main__":
    main()
