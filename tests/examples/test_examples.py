"""The examples' pipelines, run in-process by the job runner (the demos run them on Ray)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from tests.pps.conftest import Local

EXAMPLES = Path(__file__).parents[2] / "examples"


def load(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"example_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_iris_dag(local: Local, tmp_path: Path) -> None:
    data, pipes = load(EXAMPLES / "iris" / "data.py"), load(EXAMPLES / "iris" / "pipelines.py")
    parts = data.write_parts(tmp_path)
    local.pfs.create_repo("iris")
    local.put("iris", {f"/raw/{parts[0].name}": parts[0].read_bytes()})
    for p in (pipes.features, pipes.train, pipes.predict):
        local.create(p)
    local.run()
    local.put("iris", {f"/raw/{parts[1].name}": parts[1].read_bytes()})
    jobs = {j.pipeline: j for j in local.run()}
    assert (jobs["features"].datums.processed, jobs["features"].datums.skipped) == (1, 1)
    metrics = json.loads(local.files("train")["/metrics.json"])
    assert metrics["rows"] == 100 and metrics["cv_accuracy"] > 0.8
    predictions = local.files("predict")
    assert sorted(predictions) == ["/iris-1.csv", "/iris-2.csv"]
    rows = predictions["/iris-2.csv"].decode().splitlines()[1:]
    assert len(rows) == 50 and sum(a == b for a, b in (r.split(",") for r in rows)) > 40


def test_housing_dag(local: Local, tmp_path: Path) -> None:
    data, pipes = (
        load(EXAMPLES / "housing" / "data.py"),
        load(EXAMPLES / "housing" / "pipelines.py"),
    )
    parts = data.write_parts(tmp_path)
    local.pfs.create_repo("housing")
    local.put("housing", {f"/{p.name}": p.read_bytes() for p in parts})
    local.create(pipes.housing_clean)
    local.create(pipes.housing_regression)
    local.run()
    cleaned = local.files("housing_clean")["/housing-1.csv"].decode().splitlines()
    assert "B" not in cleaned[0].split(",") and len(cleaned) > 200
    metrics = json.loads(local.files("housing_regression")["/metrics.json"])
    assert metrics["rows"] == 490 and metrics["cv_r2"] > 0.5
    assert set(metrics["importance"]) >= {"LSTAT", "RM"} and "B" not in metrics["importance"]


def test_edges_python_and_command_pipelines(local: Local, tmp_path: Path) -> None:
    images, pipes = (
        load(EXAMPLES / "edges" / "images.py"),
        load(EXAMPLES / "edges" / "pipelines.py"),
    )
    paths = images.draw_images(tmp_path / "in", count=3)
    local.pfs.create_repo("images")
    local.put("images", {f"/{p.name}": p.read_bytes() for p in paths})
    local.create(pipes.edges)
    local.create(pipes.montage)
    spec = json.loads((EXAMPLES / "edges" / "edges.pipeline.json").read_text())
    local.create(spec)
    local.run()
    from PIL import Image

    edges = local.files("edges")
    assert sorted(edges) == [f"/{p.name}" for p in paths]
    assert local.files("edges-cmd") == edges  # the command and the function agree
    out = tmp_path / "montage.png"
    out.write_bytes(local.files("montage")["/montage.png"])
    with Image.open(out) as m:
        assert m.size == (256, 384)


def test_digits_batch_inference_with_a_class_pipeline(local: Local, tmp_path: Path) -> None:
    data, pipes = load(EXAMPLES / "digits" / "data.py"), load(EXAMPLES / "digits" / "pipelines.py")
    from raypachy.runtime.resources import task_options

    spec = pipes.Classifier.build("ab" * 32)
    assert spec.transform.python.kind == "class" and spec.ray.concurrency == 2
    assert task_options(spec)["num_gpus"] == 1  # a GPU per actor on a cluster
    batches = data.write_batches(tmp_path, batches=4)
    local.pfs.create_repo("digits")
    local.put("digits", {f"/{p.name}": p.read_bytes() for p in batches[:3]})
    local.create(pipes.Classifier)
    [job] = local.run()
    assert job.state == "success" and job.datums.processed == 3
    local.put("digits", {f"/{batches[3].name}": batches[3].read_bytes()})
    [job] = local.run()
    assert (job.datums.processed, job.datums.skipped) == (1, 3)  # only the new batch
    outputs = local.files("classify")
    assert sorted(outputs) == [f"/batch-{i}.csv" for i in range(4)]
    rows = [r.split(",") for out in outputs.values() for r in out.decode().splitlines()[1:]]
    assert len(rows) == 1797 - data.TRAIN  # every held-out digit, once
    accuracy = sum(p == label for p, label in rows) / len(rows)
    assert accuracy > 0.9, accuracy
