"""Batch inference with a model loaded once per worker: a pipeline written as a class.

``__init__`` runs once per pool actor (here it trains a small classifier on scikit-learn's
bundled digits; a real pipeline loads its weights), ``__call__`` once per datum (one CSV
batch of images). On a cluster with GPUs each of the (at most) two actors holds one GPU and
stays warm 60 s after a job, so the next commit's batches start without loading anything;
then the pool goes to zero and the autoscaler can remove the GPU node. On a machine without
a GPU, run it with ``Classifier.options(num_gpus=0)`` (as ``run.py`` does).
"""

from __future__ import annotations

import csv

import raypachy

TRAIN = 1000  # the first digits train the model; data.py writes the others as batches


@raypachy.pipeline(input=raypachy.pfs("digits", glob="/*.csv"), name="classify",
                   num_gpus=1, concurrency=2, keep_warm_s=60)  # fmt: skip
class Classifier:
    """Digits in, predicted digits out: ``/pfs/out/<batch>.csv`` (predicted, label)."""

    def __init__(self) -> None:
        from sklearn.datasets import load_digits
        from sklearn.svm import SVC

        images, labels = load_digits(return_X_y=True)
        self.model = SVC(gamma=0.001).fit(images[:TRAIN], labels[:TRAIN])
        print(f"model ready: trained on {TRAIN} digits")

    def __call__(self, datum) -> None:  # type: ignore[no-untyped-def]
        for path in datum.files["digits"]:
            with open(path, newline="") as f:
                rows = list(csv.reader(f))[1:]
            pixels = [[float(v) for v in row[:64]] for row in rows]
            predicted = self.model.predict(pixels) if pixels else []
            with open(datum.out / path.name, "w") as out:
                out.write("predicted,label\n")
                out.writelines(f"{p},{row[64]}\n" for p, row in zip(predicted, rows, strict=True))
