"""The console served by the real control plane (the API actor over the metadata actor):
its assets, its routes through the actor, and the Ray facts its pipeline page shows."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

import raypachy
from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray


def double(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            print(f"doubling {f.name}")
            (datum.out / f.name).write_bytes(f.read_bytes() * 2)


def first_event(api: httpx.Client) -> dict[str, Any]:
    with api.stream("GET", "/v1/events/jobs") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                return dict(json.loads(line[5:]))
    raise AssertionError("the event stream ended without an event")


def test_the_console_on_the_control_plane(local_cluster: LocalCluster) -> None:
    client = local_cluster.client()
    page = httpx.get(f"{local_cluster.api_url}/console/", timeout=30)
    assert page.status_code == 200 and "raypachy console" in page.text

    repo, name = "c" + uuid.uuid4().hex[:8], "console" + uuid.uuid4().hex[:6]
    client.create_repo(repo)
    client.put_file(f"{repo}@master", "/a.txt", b"hello")
    client.create_pipeline(
        raypachy.pipeline(double, input=raypachy.pfs(repo, glob="/*"), name=name)
    )
    job = client.inspect_pipeline(name).last_job
    assert job is not None and client.wait_job(name, job, timeout=180).state == "success"

    # The client's own headers carry whatever auth the API wants.
    with httpx.Client(base_url=local_cluster.api_url, headers=client._transport.http.headers,
                      timeout=60) as api:  # fmt: skip
        snapshot = first_event(api)["jobs"]
        assert any((j["pipeline"], j["id"], j["state"]) == (name, job, "success") for j in snapshot)
        versions = api.get(f"/v1/pipelines/{name}/versions").json()
        assert len(versions) == 1 and versions[0]["current"] and versions[0]["jobs"] == 1
        writers = api.get("/v1/files/writers", params={"target": f"{name}@master"}).json()
        assert [(w["path"], w["job"]["id"]) for w in writers] == [("/a.txt", job)]
        log = api.get("/v1/logs/datum", params={"pipeline": name, "job": job,
                                                "datum": writers[0]["datum"]["id"]}).json()  # fmt: skip
        assert "doubling a.txt" in log["log"]
        preview = api.get(
            "/v1/files/preview", params={"target": f"{name}@master", "path": "/a.txt"}
        )
        assert preview.json()["text"] == "hellohello"
        # What the pipeline page shows of Ray: the datum tasks' options and who can run them.
        info = api.get(f"/v1/pipelines/{name}").json()
        assert "num_cpus" in info["ray_options"] and info["can_run_on"]
