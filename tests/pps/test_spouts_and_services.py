"""Spout and service specs, without a cluster: what is accepted, what is refused in one
line, and what PPS does with them (no jobs; a spout's output repo open to its writes; the
process log served by ``logs -p``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

import raypachy
from raypachy.errors import ConflictError, InvalidSpecError
from raypachy.pps.ignored import spec_warnings
from raypachy.pps.longrunning import process_log_key
from raypachy.pps.service import PPS
from raypachy.pps.spec import parse_spec
from tests.pps.conftest import Local


def _spout(**extra: Any) -> dict[str, Any]:
    return {"pipeline": {"name": "events"}, "transform": {"cmd": ["sh", "-c", "true"]},
            "spout": {}, **extra}  # fmt: skip


def _service(service: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"pipeline": {"name": "web"}, "transform": {"cmd": ["python3", "-m", "http.server"]},
            "input": {"pfs": {"repo": "site", "glob": "/"}}, "service": service, **extra}  # fmt: skip


def test_a_spout_has_no_input_and_a_service_its_ports() -> None:
    spout = parse_spec(_spout())
    assert spout.input.leaves() == [] and spout.to_json()["spout"] == {}
    service = parse_spec(_service({"internalPort": 8000, "externalPort": 30800}))
    assert (service.service.internal_port, service.service.external_port) == (8000, 30800)  # type: ignore[union-attr]
    assert parse_spec(service.to_json()) == service


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spout(input={"pfs": {"repo": "r"}}), "pipeline events: a spout has no input"),
        (_service({"external_port": 30800}), "pipeline web: missing field 'service.internalPort'"),
        (_service({"internal_port": 70000}), "service.internal_port"),
        (_spout(spout={"service": {"internal_port": 80}}), "a spout that is also a service"),
        (_spout(service={"internal_port": 80}), "a spout that is also a service"),
        (_spout(spout=None), "pipeline events: missing field 'input'"),
        (
            _spout(
                transform={"cmd": ["x"], "secrets": [{"name": "s", "key": "k", "env_var": "V"}]}
            ),
            "transform.secrets is not supported for a spout yet",
        ),
    ],
)
def test_bad_spout_or_service_spec_is_one_line(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as e:
        parse_spec(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_fields_that_act_differently_are_warned_of() -> None:
    spout = parse_spec(_spout(spout={"overwrite": True}))
    service = parse_spec(_service({"internal_port": 80, "type": "NodePort"}))
    assert "spout.overwrite" in [w.split(" is ")[0] for w in spec_warnings(spout)]
    assert "service.type" in [w.split(" is ")[0] for w in spec_warnings(service)]


def test_the_spout_decorator() -> None:
    @raypachy.spout(output="ticks")
    def produce(client: Any, repo: str) -> None:
        """Ticks, forever."""

    spec = produce.build("0" * 64)
    assert spec.name == "ticks" and spec.spout is not None and not spec.input.leaves()
    assert spec.transform.python is not None and spec.transform.python.kind == "spout"
    with pytest.raises(InvalidSpecError, match="no input"):
        raypachy.spout(output="x", input=raypachy.pfs("r"))(produce.fn)
    with pytest.raises(InvalidSpecError, match=re.escape("a function f(client, repo)")):
        raypachy.spout(type("C", (), {"__call__": lambda self: None}))
    # A spout's function in a spec without "spout": {} cannot run as datums.
    data = spec.to_json()
    del data["spout"]
    data["input"] = {"pfs": {"repo": "r"}}
    with pytest.raises(InvalidSpecError, match=re.escape('needs "spout": {}')):
        parse_spec(data)


def test_no_jobs_for_a_service_and_a_spout_writes_its_own_repo(local: Local) -> None:
    local.pfs.create_repo("site")
    local.pfs.create_repo("data")
    local.create(_service({"internal_port": 8000}))
    note = local.create(_spout())
    assert "spout process starts" in note
    local.put("site", {"/index.html": b"hi"})
    assert local.pps.list_jobs("web") == [] and local.pps.list_jobs("events") == []
    with pytest.raises(ConflictError, match="is a service: it runs one process, not jobs"):
        local.pachd.rerun_pipeline("web")
    # The spout commits to its output repo through the API, as a user; a usual pipeline's
    # output repo stays its jobs' only.
    local.put("events", {"/e/1": b"1"})
    PPS(local.pfs)  # a restarted control plane leaves the spout's repo open to its writes
    local.put("events", {"/e/2": b"2"})
    assert local.files("events") == {"/e/1": b"1", "/e/2": b"2"}
    local.create({"pipeline": {"name": "copy"}, "transform": {"cmd": ["true"]},
                  "input": {"pfs": {"repo": "data"}}})  # fmt: skip
    with pytest.raises(ConflictError, match="only its jobs"):
        local.put("copy", {"/x": b"x"})


def test_logs_of_a_spout_are_its_process_log(local: Local) -> None:
    local.create(_spout())
    [entry] = local.pachd.logs("events")
    assert entry["log"] == "" and entry["job"] == ""
    local.pfs.backend.put(process_log_key("events"), b"tick 1\ntick 2\n")
    [entry] = local.pachd.logs("events")
    assert entry["log"] == "tick 1\ntick 2\n" and entry["state"] == "running"
    local.pps.set_pipeline_state("events", running=False)
    assert local.pachd.logs("events")[0]["state"] == "stopped"
