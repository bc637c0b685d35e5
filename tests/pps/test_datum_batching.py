"""Datum batching: one command serves many datums, asking for each with ``next datum``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from raypachy.errors import InvalidSpecError, UnavailableError
from raypachy.pps import queries
from raypachy.pps.nextdatum import next_datum
from raypachy.pps.spec import read_specs
from tests.pps.conftest import Local, needs_sandbox
from tests.pps.test_s3_pipelines import SPECS

# A "model" loaded once per process start (counted in a file outside /pfs), then one datum
# per next_datum(): each input file is written uppercased, with the pid that wrote it.
LOOP = textwrap.dedent(
    """
    import os, pathlib, sys, raypachy
    starts = pathlib.Path(sys.argv[1])
    with starts.open("a") as f:
        f.write("start\\n")
    error = ""
    while raypachy.next_datum(error):
        error = ""
        for path in pathlib.Path("/pfs/nums").rglob("*"):
            text = path.read_text()
            if text == "boom" and starts.read_text().count("start") < 3:
                sys.exit(7)  # fails this datum; the retry starts a new process
            if text == "bad":
                error = "cannot read " + path.name  # reported with the next call
                continue
            (pathlib.Path("/pfs/out") / path.name).write_text(
                f"{text.upper()} {os.getpid()} {os.environ['PACH_DATUM_ID']}")
    """
)


def _spec(cmd: list[str], **more: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": "upper"},
        "input": {"pfs": {"repo": "nums", "glob": "/*"}},
        "transform": {"cmd": cmd, "datum_batching": True},
        "datum_set_spec": {"number": 100},  # one batch: one process for every datum
        **more,
    }


@needs_sandbox
def test_one_process_serves_every_datum_of_a_batch(local: Local, tmp_path: Path) -> None:
    script, starts = tmp_path / "loop.py", tmp_path / "starts"
    script.write_text(LOOP)
    local.pfs.create_repo("nums")
    local.put("nums", {f"/f{i}": f"x{i}".encode() for i in range(6)})
    local.create(_spec(["python3", str(script), str(starts)]))
    [job] = local.run()
    assert job.state == "success", job.reason
    assert starts.read_text() == "start\n"  # the model was loaded once for six datums
    files = {p: v.decode().split() for p, v in local.files("upper").items()}
    assert {p: v[0] for p, v in files.items()} == {f"/f{i}": f"X{i}" for i in range(6)}
    assert len({v[1] for v in files.values()}) == 1  # one pid
    datum_ids = {d.id for d in queries.list_datums(local.pps, "upper", job.id)}
    assert {v[2] for v in files.values()} == datum_ids  # each saw its own PACH_DATUM_ID


@needs_sandbox
def test_a_failed_datum_is_retried_and_the_others_go_on(local: Local, tmp_path: Path) -> None:
    script, starts = tmp_path / "loop.py", tmp_path / "starts"
    script.write_text(LOOP)
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"a", "/b": b"boom", "/c": b"bad", "/d": b"d"})
    local.create(_spec(["python3", str(script), str(starts)], datum_tries=3))
    [job] = local.run()
    # "boom" exits the process twice (tries 1 and 2 each start one), then succeeds;
    # "bad" is reported failed on every try by a process that keeps running.
    assert job.state == "failure"
    datums = {d.id: d for d in queries.list_datums(local.pps, "upper", job.id)}
    states = sorted(d.state for d in datums.values())
    assert states == ["failed", "success", "success", "success"], states
    [bad] = [d for d in datums.values() if d.state == "failed"]
    assert "cannot read c" in bad.error
    assert starts.read_text().count("start") == 3
    assert sorted(local.pfs.get_file(f"upper@{job.output_commit.id}", p).split()[0]
                  for p in ("/a", "/b", "/d")) == [b"A", b"BOOM", b"D"]  # fmt: skip


@needs_sandbox
def test_a_shell_loop_with_the_cli_and_a_timeout(local: Local, tmp_path: Path) -> None:
    loop = ('err=""; while raypachy next datum ${err:+--error "$err"}; do . /pfs/.env; err=""; '
            'case "$(cat "$nums")" in slow) sleep 60;; bad) err="bad input";; '
            '*) cp "$nums" /pfs/out/;; esac; done')  # fmt: skip
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2", "/s": b"slow", "/x": b"bad"})
    local.create(_spec(["sh", "-c", loop], datum_tries=1, datum_timeout="10s"))
    [job] = local.run()
    errors = sorted(d.error for d in queries.list_datums(local.pps, "upper", job.id) if d.error)
    assert len(errors) == 2, errors
    assert "the command failed the datum: bad input" in errors[1]
    assert "timed out after 10s" in errors[0]
    assert local.pfs.get_file(f"upper@{job.output_commit.id}", "/a") == b"1"
    assert local.pfs.get_file(f"upper@{job.output_commit.id}", "/b") == b"2"


SLOW_START = textwrap.dedent(
    """
    import pathlib, time, raypachy
    time.sleep(6)  # loading a model: not any datum's time
    while raypachy.next_datum():
        time.sleep(3)
        for path in pathlib.Path("/pfs/nums").iterdir():
            (pathlib.Path("/pfs/out") / path.name).write_text("done")
    """
)


@needs_sandbox
def test_datum_timeout_starts_with_the_datum_not_the_command(local: Local, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW_START)
    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(_spec(["python3", str(tmp_path / "slow.py")], datum_tries=1,
                       datum_timeout="8s"))  # fmt: skip
    [job] = local.run()
    assert job.state == "success", job.reason  # 6 s start + 3 s datum, each within 8 s
    assert local.files("upper") == {"/a": b"done"}


PREDICT = textwrap.dedent(
    """
    import argparse, json, os, pathlib, raypachy
    p = argparse.ArgumentParser()
    p.add_argument("--datum-batching", action="store_true")
    p.add_argument("--model"); p.add_argument("--data-dir"); p.add_argument("--output-dir")
    args = p.parse_args()
    model = None
    while raypachy.next_datum():
        if model is None:  # the model input is part of every datum: load it once
            model = json.loads(pathlib.Path(args.model).read_text())
        for image in sorted(pathlib.Path(args.data_dir).iterdir()):
            boxes = [model["box"]] * len(image.read_bytes())
            (pathlib.Path(args.output_dir) / (image.stem + ".json")).write_text(json.dumps(boxes))
    """
)


@needs_sandbox
def test_the_published_object_detection_spec_runs(local: Local, tmp_path: Path) -> None:
    [spec] = read_specs((SPECS / "object-detection-predictions_datum_batching.json").read_text())
    assert spec.transform.datum_batching is True
    data = spec.to_json()
    (tmp_path / "predict.py").write_text(PREDICT)
    data["transform"]["cmd"][1] = str(tmp_path / "predict.py")  # the image's script, ours here
    local.pfs.create_repo("inference_images")
    local.pfs.create_repo("model")
    local.put("model", {"/object_detection_model.pt": json.dumps({"box": [1, 2, 3, 4]}).encode()})
    local.put("inference_images", {"/cat.png": b"12", "/dog.png": b"123"})
    local.create(data)
    jobs = local.run()
    assert jobs[-1].state == "success", jobs[-1].reason
    files = local.files("predictions")
    assert json.loads(files["/cat.json"]) == [[1, 2, 3, 4]] * 2
    assert json.loads(files["/dog.json"]) == [[1, 2, 3, 4]] * 3


def test_bad_uses_are_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYPACHY_NEXT_DATUM_SOCKET", raising=False)
    with pytest.raises(UnavailableError, match=r"only inside a pipeline with transform\.datum_"):
        next_datum()
    entry = "import sys; from raypachy.cli.entry import main; sys.argv[0] = 'raypachy'; main()"
    for argv in (["-m", "raypachy.cli.main", "next", "datum"],  # through click
                 ["-c", entry, "next", "datum"],  # the executable's short way
                 ["-c", entry, "next", "datum", "--error", "x"]):  # fmt: skip
        out = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, (argv, out.stderr)
        assert "datum_batching: true" in out.stderr
    python = {"python": {"code": "0" * 64, "function": "m:f"}, "datum_batching": True}
    with pytest.raises(InvalidSpecError, match="datum_batching for a Python function"):
        read_specs(json.dumps({"pipeline": {"name": "p"}, "transform": python,
                               "input": {"pfs": {"repo": "r"}}}))  # fmt: skip
