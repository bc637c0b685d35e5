"""The console walked as a user walks it, in headless Chromium: sign in, the iris DAG, a job
that moves to success live after a put, the file browser, a diff, lineage, pipelines, a job's
datums and logs, and bad input shown as a clear message."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any

import pytest

import raypachy
from tests.console.conftest import TOKEN, Browser, Demo

pytestmark = pytest.mark.browser


def state_of(browser: Browser, testid: str, extra: str = "") -> str:
    return str(browser.find(testid, extra).get_attribute("data-state"))


def test_sign_in_keeps_the_token_out_of_the_url(browser: Browser) -> None:
    browser.open("#/")
    browser.find("login-form")
    browser.shot("login")
    browser.find("login-token").send_keys("not-the-token")
    browser.find("login-submit").click()
    problem = browser.find("login-error")
    browser.wait(lambda d: problem.is_displayed(), what="the wrong-token message")
    assert "not the API's token" in problem.text
    browser.driver.refresh()
    browser.login()
    browser.find("dag-node-iris", '[data-kind="repo"]')
    assert TOKEN not in browser.driver.current_url
    stored = browser.driver.execute_script("return sessionStorage.getItem('raypachy.token')")
    assert stored == TOKEN
    assert browser.driver.execute_script("return localStorage.length") == 0


def test_the_iris_dag_appears(browser: Browser, demo: Demo) -> None:
    browser.login()
    repo = browser.find("dag-node-iris", '[data-kind="repo"]')
    nodes = {}
    for name in ("features", "train", "predict"):
        pipeline = browser.find(f"dag-node-{name}", '[data-kind="pipeline"]')
        output = browser.find(f"dag-node-{name}", '[data-kind="repo"]')
        expected = demo.local.pps.inspect_pipeline(name).last_job_state
        browser.wait(lambda d, p=pipeline, e=expected: p.get_attribute("data-state") == e)
        nodes[name] = (pipeline, output)
    browser.find("dag-op-predict-input")  # predict's cross of features and train, drawn
    assert "head " in repo.text and "KiB" in repo.text

    # Laid out left to right by the layout library: every edge points rightwards.
    def x(el: Any) -> float:
        return float(el.rect["x"])

    assert x(repo) < x(nodes["features"][0]) < x(nodes["features"][1]) < x(nodes["train"][0])
    assert x(nodes["train"][1]) < x(nodes["predict"][0]) < x(nodes["predict"][1])
    browser.shot("dag")
    nodes["train"][0].click()
    details = browser.find("dag-details")
    browser.wait(lambda d: "pipeline train" in details.text)
    assert "example_iris_train_v2:train" in details.text


def test_a_job_moves_to_success_live_after_a_put(browser: Browser, demo: Demo) -> None:
    browser.login()
    browser.go("#/jobs")
    browser.find("job-groups")
    browser.find("live-status", '[data-state="live"]')
    browser.driver.execute_script("window.notReloaded = true")
    with demo.lock:
        commit = demo.local.put("iris", {f"/raw/{demo.parts[2].name}": demo.parts[2].read_bytes()})
    row = f"job-row-features@{commit}"
    assert state_of(browser, row) == "created"  # it came by itself: the page was not reloaded
    runner = threading.Thread(target=demo.run_jobs)
    runner.start()
    browser.find(row, '[data-state="success"]')
    browser.find(f"job-row-predict@{commit}", '[data-state="success"]')
    runner.join(60)
    group = browser.find(f"job-group-{commit}", '[data-state="success"]')
    assert len(group.find_elements("css selector", "tr[data-state]")) == 3
    progress = group.find_element("css selector", '[data-testid="progress"]')
    assert progress.get_attribute("data-done") == progress.get_attribute("data-total")
    assert browser.driver.execute_script("return window.notReloaded") is True
    browser.shot("jobs")


def test_the_file_browser_opens_a_csv(browser: Browser, demo: Demo, tmp_path: Path) -> None:
    first, second = demo.commits["first"], demo.commits["second"]
    browser.login()
    browser.go(f"#/repos/iris/commit/{second}?path=/raw/")
    row = browser.find("file-row-/raw/iris-1.csv")
    browser.find("file-row-/raw/iris-2.csv")
    assert "1.3 KiB" in row.text
    browser.wait(lambda d: first[:8] in row.text, what="who wrote iris-1.csv")
    browser.shot("files")
    row.find_element("css selector", "a").click()
    table = browser.find("preview-table")
    header = [th.text for th in table.find_elements("css selector", "th")]
    assert header == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert len(table.find_elements("css selector", "tbody tr")) == 50
    browser.shot("preview")
    # Download: fetched with the token, saved by the browser.
    browser.driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.find("download").click()
    saved = tmp_path / "iris-1.csv"
    browser.wait(lambda d: saved.exists() and saved.stat().st_size > 0, what="the download")
    assert saved.read_bytes() == demo.parts[0].read_bytes()


def test_an_output_file_names_its_job_and_datum(browser: Browser, demo: Demo) -> None:
    second = demo.commits["second"]
    browser.login()
    browser.go(f"#/repos/features/commit/{second}")
    row = browser.find("file-row-/iris-2.csv")
    link = browser.wait(lambda d: row.find_elements("css selector", "a[href*='datum=']"))
    link[0].click()
    log = browser.find("datum-log")
    assert "iris-2.csv: 50 rows" in log.text
    browser.find("job-state", '[data-state="success"]')


def test_a_diff_shows_the_changed_file(browser: Browser, demo: Demo) -> None:
    browser.login()
    browser.go(f"#/repos/iris/diff/{demo.commits['second']}")
    change = browser.find("diff-row-/raw/iris-2.csv", '[data-change="added"]')
    diff = browser.wait(lambda d: change.find_elements("css selector", '[data-testid="text-diff"]'))
    assert "+" in diff[0].text and "virginica" in diff[0].text
    assert len(browser.all('[data-testid^="diff-row-"]')) == 1
    # Against any commit: the train model's metrics between its two versions.
    train = demo.local.pps.list_jobs("train")  # newest first
    v1 = train[-1].id
    v2 = next(j.id for j in reversed(train) if j.version != train[-1].version)  # the reprocess
    browser.go(f"#/repos/train/diff/{v2}")
    browser.find("diff-old").send_keys(v1)
    browser.find("diff-form").submit()
    metrics = browser.find("diff-row-/metrics.json", '[data-change="modified"]')
    text = browser.wait(
        lambda d: metrics.find_elements("css selector", '[data-testid="text-diff"]')
    )
    assert "LogisticRegression" in text[0].text and "DecisionTreeClassifier" in text[0].text
    browser.shot("diff")


def test_lineage_reaches_the_raw_file(browser: Browser, demo: Demo) -> None:
    second = demo.commits["second"]
    browser.login()
    browser.go(f"#/lineage/predict%40{second}%3A%2Firis-2.csv")
    raw = browser.find(f"lineage-node-iris@{second}")
    assert "/raw/iris-2.csv" in raw.text and raw.get_attribute("data-state") == "raw"
    browser.find(f"lineage-node-features@{second}")
    for name in ("features", "predict", "train"):  # the pipeline versions that made it
        version = demo.local.pps.inspect_job(name, second).version
        browser.find(f"lineage-pipeline-{name}@{version}")
    browser.shot("lineage")
    raw.click()
    browser.find("preview-table")
    assert "iris-2.csv" in browser.find("crumbs").text
    # Downstream: what the raw commit fed, down to the predictions.
    browser.go(f"#/lineage/iris%40{second}")
    browser.find(f"lineage-node-iris@{second}")
    for repo in ("features", "train", "predict"):
        browser.find(f"lineage-node-{repo}@{second}")


def test_an_image_is_previewed(browser: Browser, demo: Demo) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, "PNG")
    with demo.lock:
        demo.local.pfs.create_repo("pictures")
        commit = demo.local.put("pictures", {"/red.png": buf.getvalue()})
    browser.login()
    browser.go(f"#/repos/pictures/commit/{commit}?path=/red.png")
    image = browser.find("preview-image")
    browser.wait(lambda d: d.execute_script("return arguments[0].naturalWidth", image) == 40,
                 what="the image to load")  # fmt: skip


def test_the_pipeline_page(browser: Browser, demo: Demo) -> None:
    browser.login()
    browser.go("#/pipelines/train")
    spec = browser.find("pipeline-spec", '[data-format="json"]')
    assert '"function": "example_iris_train_v2:train"' in spec.text
    browser.find("spec-yaml").click()
    browser.find("pipeline-spec", '[data-format="yaml"]')
    assert re.search(r"^transform:", spec.text, re.M)
    rows = browser.all('[data-testid^="version-row-"]')
    assert len(rows) == 2 and "transform.python.function" in rows[1].text
    assert "Ray" in browser.find("ray-options").text
    browser.shot("pipeline")
    browser.find("pipeline-toggle").click()
    browser.find("pipeline-state", '[data-state="stopped"]')
    assert demo.local.pps.inspect_pipeline("train").state == "stopped"
    browser.find("pipeline-toggle").click()
    browser.find("pipeline-state", '[data-state="running"]')
    demo.run_jobs()  # starting it again started a job


def touch(datum):  # type: ignore[no-untyped-def]
    for f in datum.input().rglob("*"):
        if f.is_file():
            print(f"copied {f.name}")
            (datum.out / f.name).write_bytes(f.read_bytes())


def test_a_jobs_datums_logs_restart_and_stop(browser: Browser, demo: Demo) -> None:
    with demo.lock:
        demo.local.pfs.create_repo("stops")
        demo.local.put("stops", {"/a": b"a", "/b": b"b"})
        demo.local.create(
            raypachy.pipeline(touch, input=raypachy.pfs("stops", glob="/*"), name="copier")
        )
    demo.run_jobs()
    done = demo.local.pps.list_jobs("copier")[0]
    datums = demo.local.pachd.list_datums("copier", done.id)
    browser.login()
    browser.go(f"#/jobs/copier/{done.id}")
    browser.find("job-state", '[data-state="success"]')
    row = browser.find(f"datum-row-{datums[0].id}", '[data-state="success"]')
    assert "/a" in row.text or "/b" in row.text
    browser.find(f"datum-log-{datums[0].id}").click()
    assert re.search(r"copied [ab]", browser.find("datum-log").text)
    browser.shot("job")
    # Restart a datum: the job's inputs run again, as a new job the page moves to.
    browser.find(f"restart-{datums[0].id}").click()
    browser.wait(lambda d: done.id not in d.current_url, what="the new job's page")
    new_id = browser.driver.current_url.rsplit("/", 1)[1]
    browser.find("job-state", '[data-state="created"]')
    demo.run_jobs()
    browser.find("job-state", '[data-state="success"]')  # followed live
    assert demo.local.pps.inspect_job("copier", new_id).state == "success"
    # Stop a job that has not run yet.
    with demo.lock:
        waiting = demo.local.put("stops", {"/c": b"c"})
    browser.go(f"#/jobs/copier/{waiting}")
    browser.find("stop-job").click()
    browser.find("job-state", '[data-state="killed"]')
    assert demo.local.pps.inspect_job("copier", waiting).state == "killed"


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("#/repos/nope", "repo nope not found"),
        ("#/repos/nope/commit/master", "nope"),
        ("#/jobs/features/0123456789abcdef0123456789abcdef", "not found"),
        ("#/pipelines/nope", "pipeline nope not found"),
        ("#/lineage/nope%40master", "nope"),
        ("#/nowhere", "there is no page at /nowhere"),
    ],
)
def test_bad_input_shows_a_clear_message(browser: Browser, route: str, message: str) -> None:
    browser.login()
    browser.go(route)
    error = browser.find("error")
    assert message in error.text and len(error.text.splitlines()) == 1
    # No stack trace, Python's or JavaScript's ("at fn (file.js:3:14)").
    assert "Traceback" not in browser.text() and not re.search(r":\d+:\d+\)?$", error.text, re.M)


def test_a_deleted_commit_shows_a_clear_message(browser: Browser, demo: Demo) -> None:
    with demo.lock:
        demo.local.pfs.create_repo("gone")
        demo.local.put("gone", {"/keep": b"1"})
        doomed = demo.local.put("gone", {"/x": b"2"})
        demo.local.pachd.delete_commit(f"gone@{doomed}")
    browser.login()
    for route in (f"#/repos/gone/commit/{doomed}", f"#/repos/gone/diff/{doomed}"):
        browser.go(route)
        error = browser.find("error")
        assert doomed in error.text and "not found" in error.text
    browser.shot("error")
