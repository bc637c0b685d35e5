"""Batches of handwritten digits to classify: scikit-learn's bundled 8x8 digits (no download).

The first 1,000 images train the model (in the pipeline class's ``__init__``); the other
797 are the data to classify, written as CSV batches: 64 pixel columns and the true label.
"""

from __future__ import annotations

from pathlib import Path

TRAIN = 1000  # images used for training; the rest are inferred


def write_batches(directory: Path, batches: int = 4) -> list[Path]:
    """The held-out digits as ``batches`` CSV files (``batch-<n>.csv``) in ``directory``."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images, labels = images[TRAIN:], labels[TRAIN:]
    directory.mkdir(parents=True, exist_ok=True)
    header = ",".join([*(f"p{i}" for i in range(64)), "label"])
    paths = []
    size = -(-len(images) // batches)
    for b in range(batches):
        rows = [
            ",".join([*(str(int(v)) for v in image), str(int(label))])
            for image, label in zip(images[b * size : (b + 1) * size],
                                    labels[b * size : (b + 1) * size], strict=True)
        ]  # fmt: skip
        path = directory / f"batch-{b}.csv"
        path.write_text("\n".join([header, *rows]) + "\n")
        paths.append(path)
    return paths
