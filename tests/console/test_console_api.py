"""The console's own routes over real HTTP: assets, auth, live job events, pipeline
versions, previews, text diffs, who wrote each file, a running job's datums and logs."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from raypachy.pps.history import recent_jobs
from raypachy.server.console import previews
from tests.console.conftest import TOKEN, Demo

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, headers=AUTH, timeout=30) as client:
        yield client


def test_assets_need_no_token_and_data_does(demo: Demo) -> None:
    page = httpx.get(f"{demo.url}/console/", timeout=10)
    assert page.status_code == 200 and "raypachy console" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{demo.url}/console/js/main.js", timeout=10).status_code == 200
    redirect = httpx.get(f"{demo.url}/console", timeout=10)
    assert redirect.status_code in (301, 307) and redirect.headers["location"].endswith("/console/")
    for path in ("/v1/repos", "/v1/events/jobs", "/v1/files/preview?target=iris@master&path=/x"):
        assert httpx.get(f"{demo.url}{path}", timeout=10).status_code == 401
    # The asset prefix opens no side door to the API (paths sent as typed, not normalised).
    for sneaky in ("/console/../v1/repos", "/console/%2e%2e/v1/repos", "/console/..%2fv1/repos"):
        status, body = _raw_get(demo.url, sneaky)
        assert status in (401, 404) and "iris" not in body, (sneaky, status, body)


def _raw_get(url: str, path: str) -> tuple[int, str]:
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def test_the_vendored_layout_library_ships_with_its_licence() -> None:
    import hashlib

    from raypachy.server.console import STATIC

    vendor = STATIC / "vendor"
    library = (vendor / "dagre.esm.js").read_bytes()
    assert b"For license information please see dagre.esm.js.LEGAL.txt" in library
    for licence in ("dagre.esm.js.LEGAL.txt", "dagre.LICENSE"):
        assert "Permission is hereby granted" in (vendor / licence).read_text()
    assert hashlib.sha256(library).hexdigest() == (vendor / "dagre.sha256").read_text().strip()


def _events(demo: Demo, stop: threading.Event, out: list[tuple[str, Any]]) -> None:
    with httpx.stream("GET", f"{demo.url}/v1/events/jobs", headers=AUTH, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                out.append((event, json.loads(line[5:])))
            if stop.is_set():
                return


def test_job_events_push_a_new_job_and_its_end(demo: Demo) -> None:
    feed = demo.app.state.job_feed
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=_events, args=(demo, stop, seen), daemon=True)
    reader.start()
    try:
        _until(lambda: seen and seen[0][0] == "snapshot", "the snapshot")
        snapshot = seen[0][1]["jobs"]
        assert {"features", "train", "predict"} <= {j["pipeline"] for j in snapshot}
        with demo.lock:
            commit = demo.local.put("iris", {"/raw/events.csv": demo.parts[0].read_bytes()})
        _until(lambda: _state(seen, "features", commit) == "created", "the new job")
        demo.run_jobs()
        _until(lambda: _state(seen, "predict", commit) == "success", "the DAG to finish")
    finally:
        stop.set()
        reader.join(30)
    # The page went away: nobody listens, so nobody polls.
    _until(lambda: not feed.subscribers, "the subscriber to go", timeout=30)


def _state(seen: list[tuple[str, Any]], pipeline: str, job: str) -> str | None:
    state = None
    for event, data in seen:
        jobs = data["jobs"] if event == "snapshot" else [data]
        for j in jobs:
            if (j["pipeline"], j["id"]) == (pipeline, job):
                state = j["state"]
    return state


def _until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_recent_jobs_keep_running_ones_whatever_the_limit(demo: Demo) -> None:
    pps = demo.local.pps
    newest = recent_jobs(pps, 1)
    assert len(newest) >= 1 and newest[0].id == pps.list_jobs()[0].id
    with pytest.raises(ValueError, match="limit must be between 1 and 1000"):
        recent_jobs(pps, 0)


def test_pipeline_versions_say_what_ran(api: httpx.Client) -> None:
    versions = api.get("/v1/pipelines/train/versions").json()
    assert [v["current"] for v in versions] == [False, True]
    first, second = versions
    assert first["spec"]["transform"]["python"]["function"].endswith(":train")
    assert "train_v2" in second["spec"]["transform"]["python"]["function"]
    assert first["jobs"] >= 1 and second["jobs"] >= 1
    assert "transform:" in second["yaml"] and "train_v2" in second["yaml"]
    missing = api.get("/v1/pipelines/nope/versions")
    assert missing.status_code == 404 and missing.json()["message"] == "pipeline nope not found"


def test_previews_of_csv_text_and_bad_paths(api: httpx.Client, demo: Demo) -> None:
    at = f"iris@{demo.commits['second']}"
    table = api.get("/v1/files/preview", params={"target": at, "path": "/raw/iris-2.csv"}).json()
    assert table["kind"] == "table" and table["columns"][0] == "sepal_length"
    assert len(table["rows"]) == 50 and not table["more_rows"]
    few = api.get("/v1/files/preview", params={"target": at, "path": "/raw/iris-2.csv", "rows": 5})
    assert len(few.json()["rows"]) == 5 and few.json()["more_rows"]
    text = api.get("/v1/files/preview", params={"target": "train@master", "path": "/metrics.json"})
    assert text.json()["kind"] == "text" and "cv_accuracy" in text.json()["text"]
    binary = api.get("/v1/files/preview", params={"target": "train@master", "path": "/model.pkl"})
    assert binary.json()["kind"] == "none" and "binary" in binary.json()["reason"]
    for params, code in (({"target": at, "path": "/raw"}, 404), ({"target": at, "path": "/no"}, 404),
                         ({"target": "nope@master", "path": "/x"}, 404)):  # fmt: skip
        r = api.get("/v1/files/preview", params=params)
        assert r.status_code == code and r.json()["message"], r.text


def test_previews_of_parquet_and_images() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(300)), "name": [f"n{i}" for i in range(300)]}), buf)
    data = buf.getvalue()
    out = previews.preview("/t.parquet", data, len(data), rows=10)
    assert out["kind"] == "table" and out["columns"] == ["id", "name"]
    assert out["rows"][3] == ["3", "n3"] and out["total_rows"] == 300 and out["more_rows"]
    broken = previews.preview("/t.parquet", b"not parquet", 11)
    assert broken["kind"] == "none" and "not a readable Parquet file" in broken["reason"]
    assert previews.preview("/a/b.PNG", b"", 10)["media_type"] == "image/png"
    cut = previews.preview("/big.csv", b"a,b\n1,2\n3,", 10_000_000)
    assert cut["rows"] == [["1", "2"]] and cut["more_rows"]  # the cut last line is left out


def test_text_diffs(api: httpx.Client, demo: Demo) -> None:
    v2 = demo.local.pps.inspect_pipeline("train").last_job
    assert v2 is not None
    jobs = [j.id for j in demo.local.pps.list_jobs("train")]
    older = jobs[jobs.index(v2) + 1]
    diff = api.get("/v1/files/diff/text", params={"new": f"train@{v2}", "old": f"train@{older}",
                                                   "path": "/metrics.json"}).json()  # fmt: skip
    ops = {op for op, _ in diff["lines"]}
    assert {"-", "+", "@"} <= ops
    assert any("LogisticRegression" in t for op, t in diff["lines"] if op == "+")
    added = api.get("/v1/files/diff/text", params={"new": f"iris@{demo.commits['second']}",
                                                    "path": "/raw/iris-2.csv"}).json()  # fmt: skip
    assert added["lines"][0][0] == "@" and all(op == "+" for op, _ in added["lines"][1:])
    binary = api.get("/v1/files/diff/text", params={"new": f"train@{v2}", "path": "/model.pkl"})
    assert binary.json() == {"kind": "none", "reason": "binary file"}
    missing = api.get("/v1/files/diff/text", params={"new": "iris@master", "path": "/nope"})
    assert missing.status_code == 404 and "/nope" in missing.json()["message"]


def test_who_wrote_each_file(api: httpx.Client, demo: Demo) -> None:
    first, second = demo.commits["first"], demo.commits["second"]
    raw = api.get("/v1/files/writers", params={"target": f"iris@{second}", "path": "/raw"}).json()
    assert [(w["path"], w["commit"], w["origin"]) for w in raw] == [
        ("/raw/iris-1.csv", first, "user"), ("/raw/iris-2.csv", second, "user")]  # fmt: skip
    assert "job" not in raw[0]
    out = api.get("/v1/files/writers", params={"target": f"features@{second}"}).json()
    by_path = {w["path"]: w for w in out}
    # features skipped iris-1's datum in the second job: its first job (started when the
    # pipeline was created, with an id of its own) wrote it.
    first_job = demo.local.pps.list_jobs("features")[-1].id
    assert by_path["/iris-1.csv"]["commit"] == first_job != second
    assert by_path["/iris-1.csv"]["job"] == {"pipeline": "features", "id": first_job}
    assert by_path["/iris-2.csv"]["commit"] == second
    datum = by_path["/iris-2.csv"]["datum"]
    assert by_path["/iris-2.csv"]["job"] == {"pipeline": "features", "id": second}
    assert datum["state"] == "success"
    assert "/iris-2.csv" in demo.local.pachd.inspect_datum("features", second, datum["id"]).outputs
    nope = api.get("/v1/files/writers", params={"target": "iris@master", "path": "/nope"})
    assert nope.status_code == 404
    # A page at a time, as the listing it explains.
    at = {"target": f"iris@{second}", "path": "/raw"}
    one = api.get("/v1/files/writers", params={**at, "limit": 1}).json()
    rest = api.get("/v1/files/writers", params={**at, "start_after": "/raw/iris-1.csv"}).json()
    assert [w["path"] for w in one] == ["/raw/iris-1.csv"] and one[0]["commit"] == first
    assert [(w["path"], w["commit"]) for w in rest] == [("/raw/iris-2.csv", second)]


def test_a_running_job_shows_the_datums_done_so_far(api: httpx.Client, demo: Demo) -> None:
    with demo.lock:
        commit = demo.local.put("iris", {"/raw/progress.csv": demo.parts[1].read_bytes()})
        pps = demo.local.pps
        claim = pps.claim_job("features")
        assert claim is not None and claim.job == commit
        before = api.get(f"/v1/jobs/features/{commit}/progress").json()
        assert before["final"] is False and before["datums"] == []
        # What the controller records when a batch ends: the datums it finished.
        row = ["d" * 32, "h" * 64, "success", ["/progress.csv"], 1, "", 0.25]
        pps.checkpoint_batch("features", commit, None, [row])
        during = api.get(f"/v1/jobs/features/{commit}/progress").json()
        assert [(d["id"], d["state"], d["outputs"]) for d in during["datums"]] == [
            ("d" * 32, "success", ["/progress.csv"])]  # fmt: skip
        pps.fail_job("features", commit, "stopped by the test")
    demo.run_jobs()
    after = api.get(f"/v1/jobs/features/{commit}/progress").json()
    assert after["final"] is True and after["job"]["state"] == "failure"


def test_a_datums_log(api: httpx.Client, demo: Demo) -> None:
    second = demo.commits["second"]
    datums = api.get(f"/v1/jobs/features/{second}/datums").json()
    ran = next(d for d in datums if d["state"] == "success")
    log = api.get("/v1/logs/datum", params={"pipeline": "features", "job": second,
                                            "datum": ran["id"]}).json()  # fmt: skip
    assert log["found"] and "iris-2.csv: 50 rows" in log["log"]
    skipped = next(d for d in datums if d["state"] == "skipped")
    quiet = api.get("/v1/logs/datum", params={"pipeline": "features", "job": second,
                                              "datum": skipped["id"]}).json()  # fmt: skip
    assert quiet == {"pipeline": "features", "job": second, "datum": skipped["id"],
                     "found": False, "log": ""}  # fmt: skip
    bad = api.get("/v1/logs/datum", params={"pipeline": "features", "job": second,
                                            "datum": "../../x"})  # fmt: skip
    assert bad.status_code == 400 and "invalid datum id" in bad.json()["message"]
    unknown = api.get("/v1/logs/datum", params={"pipeline": "features", "job": "0" * 32,
                                                "datum": "ab"})  # fmt: skip
    assert unknown.status_code == 404 and "not found" in unknown.json()["message"]
