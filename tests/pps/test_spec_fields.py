"""Spec fields that used to be accepted and then ignored: each acts, or create says so."""

from __future__ import annotations

import logging
from pathlib import Path

import blake3
import pytest
from fastapi.testclient import TestClient

from raypachy.client import Client
from raypachy.pps.datums import Datum, DatumInput
from raypachy.pps.jobrun import batches_of
from raypachy.pps.spec import parse_spec
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from raypachy.storage.entries import FileData
from tests.pps.conftest import Local, needs_sandbox

EVERY_IGNORED = {
    "pipeline": {"name": "busy"},
    "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
    "transform": {"cmd": ["sh"], "image": "acme/tool:1.2", "user": "nobody",
                  "memoryVolume": True, "imagePullSecrets": ["regcred"],
                  "dockerfile": "Dockerfile", "debug": True},
    "input": {"pfs": {"repo": "raw", "glob": "/*", "lazy": True, "repoType": "meta"}},
    "resourceRequests": {"disk": "10Gi"},
    "resourceLimits": {"cpu": 2, "memory": "1Gi", "disk": "5Gi"},
    "sidecarResourceLimits": {"cpu": 1},
    "sidecarResourceRequests": {"memory": "64Mi"},
    "schedulingSpec": {"priorityClassName": "high"},
    "standby": False,
    "enableStats": True,
    "cacheSize": "64M",
    "maxQueueSize": 10,
    "maximumExpectedUptime": "1h",
}  # fmt: skip
FIELDS = [
    "resource_requests.disk", "resource_limits.cpu", "resource_limits.memory",
    "resource_limits.disk", "sidecar_resource_limits", "sidecar_resource_requests",
    "scheduling_spec.priority_class_name",
    "transform.user", "transform.memory_volume", "transform.image_pull_secrets",
    "transform.dockerfile", "transform.debug", "standby", "enable_stats", "cache_size",
    "max_queue_size", "maximum_expected_uptime", "repo_type", "transform.image",
    "transform.cmd",
]  # fmt: skip


def test_every_ignored_field_gets_one_warning_line_naming_it(local: Local) -> None:
    local.pfs.create_repo("raw")
    warnings = local.pachd.put_pipeline(EVERY_IGNORED).warnings
    assert all("\n" not in w and w.startswith("pipeline busy: ") for w in warnings)
    for field in FIELDS:
        assert sum(field + " " in w or field + ":" in w for w in warnings) >= 1, field
    assert len(warnings) == len(FIELDS)
    assert any("used as the request" in w for w in warnings)  # limits act as requests
    # metadata and the priority class act on the pipeline's own worker group: said in one line
    assert any(w.startswith("pipeline busy: metadata.labels, metadata.annotations, scheduling_"
                            "spec.priority_class_name: its datums run only on its own worker "
                            "group (Ray label raypachy.io/pipeline=busy)") for w in warnings)  # fmt: skip


def test_a_plain_spec_gets_no_warning_and_the_client_logs_them(
    local: Local, caplog: pytest.LogCaptureFixture
) -> None:
    local.pfs.create_repo("raw")
    plain = {"pipeline": {"name": "plain"}, "input": {"pfs": {"repo": "raw"}},
             "transform": {"cmd": ["sh"], "codePaths": [__file__]}}  # fmt: skip
    assert local.pachd.put_pipeline(plain).warnings == ()
    api = TestClient(create_app(LocalService(local.pachd), local.pfs.backend.uri),
                     base_url="http://127.0.0.1")  # fmt: skip
    client = Client("http://testserver")
    client._transport.http = api  # the real client code over the in-process app
    with caplog.at_level(logging.WARNING, logger="raypachy"):
        client.create_pipeline(EVERY_IGNORED)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pipeline busy")]
    assert len(logged) == len(FIELDS)


def test_resource_limits_are_requests_when_no_request_is_given() -> None:
    from raypachy.runtime.resources import task_options

    spec = parse_spec(EVERY_IGNORED)
    assert task_options(spec)["num_cpus"] == 2 and task_options(spec)["memory"] == 1 << 30
    both = parse_spec({**EVERY_IGNORED, "resourceRequests": {"cpu": 0.5}})
    assert task_options(both)["num_cpus"] == 0.5


def _datum(i: int, size: int) -> Datum:
    data = FileData(size, blake3.blake3(str(i).encode()).digest(), ())
    item = DatumInput("in", "raw", "master", "c", f"/{i}", ((f"/{i}", data),))
    return Datum(f"{i:032x}", "", (item,))


def test_datum_set_spec_size_bytes_and_per_worker_cut_the_batches() -> None:
    datums = [_datum(i, 40) for i in range(10)]
    base = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "raw"}},
            "transform": {"cmd": ["x"]}}  # fmt: skip
    by_size = parse_spec({**base, "datumSetSpec": {"sizeBytes": 100}})
    assert [len(b) for b in batches_of(by_size, datums, 2)] == [2, 2, 2, 2, 2]
    per_worker = parse_spec({**base, "datumSetSpec": {"perWorker": 1}})
    assert len(batches_of(per_worker, datums, 2)) == 2
    many = [_datum(i, 40) for i in range(16)]
    assert len(batches_of(parse_spec(base), many, 2)) == 8  # ~4 per worker slot
    huge = [_datum(0, 500), *datums[1:3]]
    assert [len(b) for b in batches_of(by_size, huge, 2)] == [1, 2]  # a set holds one at least


@needs_sandbox
def test_code_paths_make_a_changed_script_a_new_version(local: Local, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    script = code / "shout.sh"
    script.write_text('tr a-z A-Z < "$1"\n')
    spec = {"pipeline": {"name": "shout"}, "input": {"pfs": {"repo": "raw", "glob": "/*"}},
            "transform": {"cmd": ["sh", "-c", f'sh {script} "$raw" > /pfs/out/$(basename "$raw")'],
                          "codePaths": [str(code)]}}  # fmt: skip
    local.pfs.create_repo("raw")
    local.put("raw", {"/a": b"hi"})
    local.create(spec)
    [job] = local.run()
    assert job.state == "success" and local.files("shout") == {"/a": b"HI"}
    first = local.pps.inspect_pipeline("shout").version
    assert "unchanged" in local.create(spec, update=True)
    # the script changes on disk: a job does not run new code under the old version
    script.write_text('rev < "$1"\n')
    local.put("raw", {"/b": b"yo"})
    [job] = local.run()
    assert job.state == "failure" and "changed on node" in job.reason
    # updating makes the new code a new version, and it runs
    assert "updated to version" in local.create(spec, update=True)
    assert local.pps.inspect_pipeline("shout").version != first
    [job] = local.run()  # the update's job runs the datum that failed, with the new code
    assert job.state == "success" and local.files("shout") == {"/a": b"HI", "/b": b"oy"}
