"""The iris data set (bundled with scikit-learn: no download), as three CSV parts."""

from __future__ import annotations

import random
from pathlib import Path

from sklearn.datasets import load_iris

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def write_parts(directory: Path, parts: int = 3, seed: int = 7) -> list[Path]:
    """Shuffle the 150 flowers and write them as ``iris-1.csv`` ... ``iris-N.csv``."""
    iris = load_iris()
    rows = [
        [*(f"{v:.1f}" for v in features), iris.target_names[target]]
        for features, target in zip(iris.data, iris.target, strict=True)
    ]
    random.Random(seed).shuffle(rows)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    size = -(-len(rows) // parts)
    for i in range(parts):
        path = directory / f"iris-{i + 1}.csv"
        chunk = rows[i * size : (i + 1) * size]
        path.write_text(",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in chunk))
        paths.append(path)
    return paths
