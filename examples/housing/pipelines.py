"""A DAG of two: clean each raw CSV part, then fit a regression on all the cleaned parts.

raypachy create pipeline --python examples/housing/pipelines.py
"""

from __future__ import annotations

import csv
import json
import pickle

import raypachy

# "B" encodes the proportion of Black residents by town; it is why scikit-learn removed this
# data set. Cleaning drops it, with the rows whose price is censored at the 50.0 cap.
DROPPED = ["B"]
TARGET = "MEDV"


@raypachy.pipeline(input=raypachy.pfs("housing", glob="/*"), num_cpus=0.5)
def housing_clean(datum):
    """Drop the B column, rows with missing values and rows censored at MEDV 50."""
    for path in sorted(datum.input().rglob("*.csv")):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        keep = [c for c in rows[0] if c not in DROPPED] if rows else []
        clean = [r for r in rows if all(r[c] for c in keep) and float(r[TARGET]) < 50.0]
        with open(datum.out / path.name, "w", newline="") as f:
            writer = csv.DictWriter(f, keep, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(clean)
        print(f"{path.name}: kept {len(clean)} of {len(rows)} rows")


@raypachy.pipeline(input=raypachy.pfs("housing_clean", glob="/"), num_cpus=1)
def housing_regression(datum):
    """Fit a gradient-boosted regression of MEDV on the other columns."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import cross_val_score

    X, y, columns = [], [], []
    for path in sorted(datum.input().rglob("*.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                columns = [c for c in row if c != TARGET]
                X.append([float(row[c]) for c in columns])
                y.append(float(row[TARGET]))
    model = GradientBoostingRegressor(random_state=0)
    r2 = float(cross_val_score(model, X, y, cv=5, scoring="r2").mean())
    model.fit(X, y)
    importance = dict(sorted(zip(columns, model.feature_importances_.round(3).tolist(),
                                 strict=True), key=lambda kv: -kv[1]))  # fmt: skip
    (datum.out / "model.pkl").write_bytes(pickle.dumps(model))
    (datum.out / "metrics.json").write_text(
        json.dumps({"rows": len(y), "cv_r2": round(r2, 3), "importance": importance}, indent=1)
    )
    print(f"fitted on {len(y)} rows: cross-validated R^2 {r2:.3f}")
