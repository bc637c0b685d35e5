"""The iris DAG: per-file features -> one model trained on all of them -> predictions.

raypachy create pipeline --python examples/iris/pipelines.py
"""

from __future__ import annotations

import csv
import json
import pickle

import raypachy

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@raypachy.pipeline(input=raypachy.pfs("iris", glob="/raw/*"), num_cpus=0.5)
def features(datum):
    """Clean one raw CSV: drop incomplete rows, add petal and sepal areas."""
    for path in sorted(datum.input().rglob("*.csv")):
        with open(path) as f:
            rows = [r for r in csv.DictReader(f) if all(r.get(k) for k in FEATURES)]
        with open(datum.out / path.name, "w", newline="") as f:
            writer = csv.DictWriter(f, [*FEATURES, "petal_area", "sepal_area", "species"])
            writer.writeheader()
            for r in rows:
                petal = float(r["petal_length"]) * float(r["petal_width"])
                sepal = float(r["sepal_length"]) * float(r["sepal_width"])
                writer.writerow({**r, "petal_area": f"{petal:.2f}", "sepal_area": f"{sepal:.2f}"})
        print(f"{path.name}: {len(rows)} rows")


def _load(paths):
    X, y = [], []
    for path in paths:
        with open(path) as f:
            for r in csv.DictReader(f):
                X.append([float(r[k]) for k in (*FEATURES, "petal_area", "sepal_area")])
                y.append(r["species"])
    return X, y


@raypachy.pipeline(input=raypachy.pfs("features", glob="/"), num_cpus=1)
def train(datum):
    """Train a decision tree on every feature file."""
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y = _load(sorted(datum.input().rglob("*.csv")))
    model = DecisionTreeClassifier(max_depth=3, random_state=0)
    folds = min(3, len(set(y)), len(y))
    score = float(cross_val_score(model, X, y, cv=folds).mean()) if folds > 1 else 1.0
    model.fit(X, y)
    (datum.out / "model.pkl").write_bytes(pickle.dumps(model))
    (datum.out / "metrics.json").write_text(
        json.dumps({"rows": len(y), "cv_accuracy": round(score, 3), "model": type(model).__name__})
    )
    print(f"trained {type(model).__name__} on {len(y)} rows, cv accuracy {score:.3f}")


@raypachy.pipeline(
    input=raypachy.cross(raypachy.pfs("features", glob="/*"), raypachy.pfs("train", glob="/")),
    num_cpus=0.5,
)
def predict(datum):
    """Label every flower of one feature file with the current model."""
    model = pickle.loads((datum.inputs["train"] / "model.pkl").read_bytes())
    for path in sorted(datum.inputs["features"].rglob("*.csv")):
        X, y = _load([path])
        labels = model.predict(X)
        right = sum(a == b for a, b in zip(labels, y, strict=True))
        rows = "".join(f"{a},{b}\n" for a, b in zip(labels, y, strict=True))
        (datum.out / path.name).write_text("predicted,actual\n" + rows)
        print(f"{path.name}: {right}/{len(y)} right")
