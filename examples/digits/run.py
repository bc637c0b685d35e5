"""Run the digits example on a fresh local installation (no GPU: ``num_gpus=0`` here)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _demo import fresh_installation, sh, sh_json  # noqa: E402
from data import write_batches  # noqa: E402
from pipelines import Classifier  # noqa: E402

import raypachy  # noqa: E402


def main() -> None:
    fresh_installation("raypachy-digits-")
    try:
        batches = write_batches(Path(tempfile.mkdtemp(prefix="digits-")))
        sh("raypachy create repo digits")
        for path in batches[:-1]:
            sh(f"raypachy put file digits@master:/{path.name} -f {path}")
        with raypachy.connect() as client:
            client.create_pipeline(Classifier.options(num_gpus=0))  # a laptop has no GPU
            job = client.inspect_pipeline("classify").last_job
            assert job is not None
            client.wait_job("classify", job, timeout=600)
        sh("raypachy list file classify@master")
        # The pool is warm: the next batch's datum starts without training again.
        sh(f"raypachy put file digits@master:/{batches[-1].name} -f {batches[-1]}")
        head = sh_json("raypachy inspect commit digits@master -o json")["id"]
        sh(f"raypachy wait commit {head}")
        sh(f"raypachy list job {head}")
        sh(f"raypachy get file classify@master:/{batches[-1].name}")
    finally:
        sh("raypachy down")


if __name__ == "__main__":
    main()
