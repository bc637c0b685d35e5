"""The Boston housing data, as bundled in the mlxtend package (no download), as CSV parts."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

COLUMNS = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO",
           "B", "LSTAT", "MEDV"]  # fmt: skip


def write_parts(directory: Path, parts: int = 2) -> list[Path]:
    """Write the 506 rows as ``housing-1.csv`` ... ``housing-N.csv`` with a header."""
    raw = (importlib.resources.files("mlxtend.data") / "data" / "boston_housing.csv").read_text()
    rows = [",".join(f"{float(v):g}" for v in line.split(",")) for line in raw.split() if line]
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(rows) // parts)
    paths = []
    for i in range(parts):
        path = directory / f"housing-{i + 1}.csv"
        path.write_text(
            ",".join(COLUMNS) + "\n" + "\n".join(rows[i * size : (i + 1) * size]) + "\n"
        )
        paths.append(path)
    return paths
