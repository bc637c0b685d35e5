"""Class pipelines in process: ``__init__`` once per job run, hooks around the job's datums."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import raypachy
from raypachy.errors import InvalidSpecError
from raypachy.pps import queries
from raypachy.pps.spec import check_supported, parse_spec
from tests.pps.conftest import Local


def _note(event: str) -> None:
    with open(os.environ["EVENTS_FILE"], "a") as f:
        f.write(event + "\n")


@raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="scale", concurrency=2,
                   keep_warm_s=5)  # fmt: skip
class Scale:
    """Multiply every number by a factor loaded once."""

    def __init__(self) -> None:
        _note("init")
        self.factor = 10  # the "model"

    def setup_job(self, job) -> None:  # type: ignore[no-untyped-def]
        _note(f"setup {job.job_id}")

    def __call__(self, datum) -> None:  # type: ignore[no-untyped-def]
        for f in datum.input().rglob("*"):
            if f.is_file():
                (datum.out / f.name).write_text(str(self.factor * int(f.read_text())))

    def finish_job(self, job) -> None:  # type: ignore[no-untyped-def]
        _note(f"finish {job.job_id}")


@pytest.fixture
def events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events"
    path.touch()
    monkeypatch.setenv("EVENTS_FILE", str(path))
    return path


def test_class_is_instantiated_once_per_job_run_with_its_hooks(local: Local, events: Path) -> None:
    local.pfs.create_repo("nums")
    local.put("nums", {f"/n{i}": str(i).encode() for i in range(6)})
    local.create(Scale)
    [job] = local.run(parallelism=2)  # 6 datums in several batches, on one instance
    assert job.state == "success" and job.datums.processed == 6
    assert local.files("scale") == {f"/n{i}": str(10 * i).encode() for i in range(6)}
    assert events.read_text().splitlines() == ["init", f"setup {job.id}", f"finish {job.id}"]
    second = local.put("nums", {"/n9": b"9"})
    [job] = local.run()
    assert job.state == "success" and (job.datums.processed, job.datums.skipped) == (1, 6)
    assert events.read_text().splitlines()[3:] == ["init", f"setup {second}", f"finish {second}"]
    assert local.files("scale")["/n9"] == b"90"


def test_init_failing_fails_the_job_with_its_traceback(local: Local, events: Path) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="broken")
    class Broken:
        def __init__(self) -> None:
            _note("init")
            raise RuntimeError("model weights missing")

        def __call__(self, datum) -> None:  # type: ignore[no-untyped-def]
            _note("call")

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1", "/b": b"2"})
    local.create(Broken)
    [job] = local.run()
    assert job.state == "failure"
    assert job.reason.startswith("Broken.__init__ failed: RuntimeError: model weights missing")
    assert "Traceback" in job.reason and 'raise RuntimeError("model weights missing")' in job.reason
    assert events.read_text().splitlines() == ["init"]  # no datum ran
    entry, *rest = queries.read_logs(local.pps, "broken", job.id)
    assert entry["state"] == "failed" and entry["datum"] == ""
    assert entry["error"] == "Broken.__init__ failed: RuntimeError: model weights missing"
    assert 'raise RuntimeError("model weights missing")' in entry["log"]
    assert [(e["state"], e["error"]) for e in rest] == [("failed", "not run")] * 2
    assert local.files("broken") == {}


def test_setup_job_failing_fails_the_job(local: Local, events: Path) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="nosetup")
    class NoSetup:
        def setup_job(self, job) -> None:  # type: ignore[no-untyped-def]
            raise ValueError(f"no room for {job.job_id}")

        def __call__(self, datum) -> None:  # type: ignore[no-untyped-def]
            _note("call")

    local.pfs.create_repo("nums")
    local.put("nums", {"/a": b"1"})
    local.create(NoSetup)
    [job] = local.run()
    assert job.state == "failure"
    assert job.reason.startswith(f"NoSetup.setup_job failed: ValueError: no room for {job.id}")
    assert events.read_text() == ""


def test_a_failing_call_fails_its_datum_only_and_is_retried(local: Local, events: Path) -> None:
    @raypachy.pipeline(input=raypachy.pfs("nums", glob="/*"), name="picky", datum_tries=2)
    class Picky:
        def __init__(self) -> None:
            _note("init")

        def __call__(self, datum) -> None:  # type: ignore[no-untyped-def]
            [f] = [f for f in datum.input().rglob("*") if f.is_file()]
            _note(f"call {f.name}")
            if f.name == "bad":
                raise ValueError("bad datum")
            (datum.out / f.name).write_text("ok")

    local.pfs.create_repo("nums")
    local.put("nums", {"/good": b"1", "/bad": b"2"})
    local.create(Picky)
    [job] = local.run(parallelism=1)
    assert job.state == "failure" and (job.datums.processed, job.datums.failed) == (1, 1)
    assert sorted(events.read_text().splitlines()) == ["call bad", "call bad", "call good", "init"]


def test_the_spec_records_a_class_and_its_pool() -> None:
    spec = Scale.build("ab" * 32)
    assert spec.transform.python is not None and spec.transform.python.kind == "class"
    assert spec.ray is not None and (spec.ray.concurrency, spec.ray.keep_warm_s) == (2, 5)
    assert spec.description == "Multiply every number by a factor loaded once."
    plain = raypachy.pipeline(lambda d: None, input=raypachy.pfs("nums"), name="plain")
    assert "kind" not in plain.build("ab" * 32).to_json()["transform"]["python"]


def test_bad_class_pipelines_are_refused_in_one_line() -> None:
    with pytest.raises(InvalidSpecError, match=r"class NoCall has no __call__\(self, datum\)"):

        @raypachy.pipeline(input=raypachy.pfs("nums"))
        class NoCall:
            pass

    with pytest.raises(InvalidSpecError, match="concurrency sizes the actor pool of a class"):
        raypachy.pipeline(lambda d: None, input=raypachy.pfs("nums"), concurrency=2)
    with pytest.raises(InvalidSpecError, match=r"keep_warm_s=-1: must be >= 0"):
        Scale.options(keep_warm_s=-1)
    with pytest.raises(InvalidSpecError, match=r"concurrency=0: must be >= 1"):
        Scale.options(concurrency=0)
    spec = {"pipeline": {"name": "cmd"}, "input": {"pfs": {"repo": "nums"}},
            "transform": {"cmd": ["true"]}, "ray": {"concurrency": 2}}  # fmt: skip
    with pytest.raises(InvalidSpecError, match=r"ray\.concurrency sizes the actor pool"):
        check_supported(parse_spec(spec))
