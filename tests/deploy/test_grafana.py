"""The Grafana dashboard: valid JSON whose queries use only metrics and labels we export."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "configs" / "grafana" / "raypachy.json"
METRICS = ROOT / "raypachy" / "runtime" / "metrics.py"
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def exported() -> dict[str, tuple[str, set[str]]]:
    """What metrics.py registers: Prometheus name (Ray adds ``ray_``) -> (kind, tag keys)."""
    out = {}
    for node in ast.walk(ast.parse(METRICS.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("Counter", "Histogram"):
            name = node.args[0]
            assert isinstance(name, ast.Constant)
            tags = next(k.value for k in node.keywords if k.arg == "tag_keys")
            assert isinstance(tags, ast.Tuple)
            keys = {t.value for t in tags.elts if isinstance(t, ast.Constant)}
            out[f"ray_{name.value}"] = (node.func.id, keys)  # type: ignore[attr-defined]
    return out


def queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def problems(dashboard: dict[str, Any]) -> list[str]:
    """Every query naming a metric, series or label that raypachy does not export."""
    metrics = exported()
    found, used = [], set()
    for expr in queries(dashboard):
        names = re.findall(r"\bray_raypachy_\w+", expr)
        if not names:
            found.append(f"{expr}: queries no raypachy metric")
        for name in names:
            base = name
            if name not in metrics and name.endswith(HISTOGRAM_SERIES):
                base = name.rsplit("_", 1)[0]
                if metrics.get(base, ("",))[0] != "Histogram":
                    found.append(f"{name}: no such histogram")
                    continue
            if base not in metrics:
                found.append(f"{name} is not a metric of raypachy/runtime/metrics.py")
                continue
            used.add(base)
            matchers = expr.split(name, 1)[1]
            labels = (
                set(re.findall(r"(\w+)\s*=~?", matchers.split("}", 1)[0]))
                if matchers.startswith("{")
                else set()
            )
            labels |= {
                x.strip() for grp in re.findall(r"by \(([^)]*)\)", expr) for x in grp.split(",")
            }
            allowed = metrics[base][1] | ({"le"} if metrics[base][0] == "Histogram" else set())
            if labels - allowed:
                found.append(f"{expr}: labels {sorted(labels - allowed)} are not exported")
    found += [f"{m} is not on the dashboard" for m in sorted(set(metrics) - used)]
    return found


def test_the_dashboard_parses_and_queries_only_what_we_export() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
    assert set(exported()) == {"ray_raypachy_datums_total", "ray_raypachy_bytes_read_total",
                               "ray_raypachy_bytes_written_total", "ray_raypachy_job_seconds"}  # fmt: skip
    assert problems(dashboard) == []


def test_a_wrong_metric_series_or_label_is_caught() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    target = dashboard["panels"][0]["targets"][0]
    for wrong, message in (
        ("ray_raypachy_datum_total", "is not a metric"),
        ("ray_raypachy_bytes_read_total_bucket", "no such histogram"),
        ('ray_raypachy_job_seconds_count{node="x"}', "labels ['node'] are not exported"),
    ):
        target["expr"] = f"sum({wrong})"
        assert any(message in p for p in problems(dashboard)), wrong
