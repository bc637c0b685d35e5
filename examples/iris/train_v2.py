"""Version 2 of ``train``: logistic regression instead of a decision tree.

raypachy update pipeline --python examples/iris/train_v2.py --reprocess
"""

from __future__ import annotations

import json
import pickle

from pipelines import _load  # the helpers of version 1

import raypachy


@raypachy.pipeline(input=raypachy.pfs("features", glob="/"), num_cpus=1, name="train")
def train(datum):
    """Train a logistic regression on every feature file."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    X, y = _load(sorted(datum.input().rglob("*.csv")))
    model = LogisticRegression(max_iter=1000)
    folds = min(3, len(set(y)), len(y))
    score = float(cross_val_score(model, X, y, cv=folds).mean()) if folds > 1 else 1.0
    model.fit(X, y)
    (datum.out / "model.pkl").write_bytes(pickle.dumps(model))
    (datum.out / "metrics.json").write_text(
        json.dumps({"rows": len(y), "cv_accuracy": round(score, 3), "model": type(model).__name__})
    )
    print(f"trained {type(model).__name__} on {len(y)} rows, cv accuracy {score:.3f}")
