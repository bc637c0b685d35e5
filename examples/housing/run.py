"""Run the housing example end to end on a fresh local installation."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _demo import fresh_installation, sh, sh_json  # noqa: E402
from data import write_parts  # noqa: E402


def main() -> None:
    fresh_installation("raypachy-housing-")
    try:
        parts = write_parts(Path(tempfile.mkdtemp(prefix="housing-")))
        sh("raypachy create repo housing")
        sh(f"raypachy put file housing@master:/{parts[0].name} -f {parts[0]}")
        sh(f"raypachy create pipeline --python {HERE / 'pipelines.py'}")
        job = sh_json("raypachy inspect pipeline housing_clean -o json")["last_job"]
        sh(f"raypachy wait commit {job}")
        sh("raypachy get file housing_regression@master:/metrics.json")
        sh(f"raypachy put file housing@master:/{parts[1].name} -f {parts[1]}")
        head = sh_json("raypachy inspect commit housing@master -o json")["id"]
        sh(f"raypachy wait commit {head}")
        sh(f"raypachy list job {head}")
        sh("raypachy get file housing_regression@master:/metrics.json")
        sh("raypachy lineage housing_regression@master:/metrics.json")
    finally:
        sh("raypachy down")


if __name__ == "__main__":
    main()
