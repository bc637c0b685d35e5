"""The console in a real browser: headless Chromium (Debian's package, installed with apt
when missing) driven by Selenium, against the real HTTP API served by uvicorn on 127.0.0.1,
over an in-process installation holding the iris example's DAG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from raypachy.secrets import token_hash
from raypachy.server.app import create_app
from raypachy.server.service import LocalService
from tests.conftest import free_port
from tests.examples.test_examples import EXAMPLES, load
from tests.pps.conftest import Local

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "console-test-token-5b1d"
WAIT_S = 60.0  # generous: a loaded machine is slow, and waits end as soon as the page is there


def ensure_chromium() -> None:
    """Debian's chromium and chromium-driver, installed with apt when missing."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if shutil.which("apt-get") is None:
        pytest.fail(
            "the console tests need Debian's chromium and chromium-driver (no apt-get here)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    for cmd in (["apt-get", *lock, "update", "-q"],
                ["apt-get", *lock, "install", "-y", "-q", "chromium", "chromium-driver"]):  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed: {done.stderr[-1500:]}")


@dataclass
class Demo:
    """The iris example in-process, served over HTTP: what `make demo` leaves behind."""

    local: Local
    url: str
    app: Any
    parts: list[Path]
    commits: dict[str, str] = field(default_factory=dict)  # name -> commit id
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run_jobs(self) -> list[Any]:
        with self.lock:
            return self.local.run()


def build_demo(local: Local, tmp: Path) -> tuple[list[Path], dict[str, str]]:
    data, pipes = load(EXAMPLES / "iris" / "data.py"), load(EXAMPLES / "iris" / "pipelines.py")
    parts = data.write_parts(tmp / "parts")
    local.pfs.create_repo("iris", "iris flowers, raw CSV parts")
    commits = {"first": local.put("iris", {f"/raw/{parts[0].name}": parts[0].read_bytes()})}
    for p in (pipes.features, pipes.train, pipes.predict):
        local.create(p)
    local.run()
    commits["second"] = local.put("iris", {f"/raw/{parts[1].name}": parts[1].read_bytes()})
    local.run()
    local.create(load(EXAMPLES / "iris" / "train_v2.py").train, update=True, reprocess=True)
    local.run()
    return parts, commits


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    import uvicorn

    tmp = tmp_path_factory.mktemp("console")
    local = Local(tmp / "home")
    parts, commits = build_demo(local, tmp)
    app = create_app(LocalService(local.pachd), local.pfs.backend.uri, token_hash(TOKEN))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Demo(local, f"http://127.0.0.1:{port}", app, parts, commits)
    finally:
        server.should_exit = True
        thread.join(30)


class Browser:
    """A headless Chromium page with the waits a user's eyes do."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self, hash_route: str = "#/") -> None:
        self.driver.get(f"{self.base}/console/{hash_route}")

    def go(self, hash_route: str) -> None:
        """Navigate inside the page (no reload): what clicking a link does."""
        self.driver.execute_script("location.hash = arguments[0]", hash_route)

    def wait(self, condition: Callable[[Any], Any], timeout: float = WAIT_S, what: str = "") -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            body = self.driver.find_element("tag name", "body").text[:1500]
            raise AssertionError(
                f"timed out waiting for {what or condition}; page: {body}"
            ) from None

    def find(self, testid: str, extra: str = "", timeout: float = WAIT_S) -> Any:
        """The element with ``data-testid`` (and the extra CSS), once it is there."""
        css = f'[data-testid="{testid}"]{extra}'
        return self.wait(lambda d: _first(d, css), timeout, css)

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements("css selector", css))

    def text(self) -> str:
        return str(self.driver.find_element("css selector", "main").text)

    def login(self, token: str = TOKEN) -> None:
        self.open("#/")
        self.find("login-token").send_keys(token)
        self.find("login-submit").click()
        self.wait(
            lambda d: not _first(d, '[data-testid="login-form"]'), what="the login form to go"
        )

    def shot(self, name: str) -> None:
        """A screenshot into $RAYPACHY_CONSOLE_SHOTS (``make console-screenshots``), if set."""
        where = os.environ.get("RAYPACHY_CONSOLE_SHOTS")
        if where:
            Path(where).mkdir(parents=True, exist_ok=True)
            time.sleep(0.3)  # let the last paint land
            self.driver.save_screenshot(str(Path(where) / f"{name}.png"))


def _first(driver: Any, css: str) -> Any:
    found = driver.find_elements("css selector", css)
    return found[0] if found else None


@pytest.fixture(scope="session")
def chromium_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1440,960",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium_driver: Any, demo: Demo) -> Iterator[Browser]:
    b = Browser(chromium_driver, demo.url)
    b.open("#/")
    b.driver.execute_script("sessionStorage.clear()")
    b.driver.get("about:blank")  # each test starts signed out, on a fresh page load
    yield b
    errors = [e for e in chromium_driver.get_log("browser") if e["level"] == "SEVERE"]
    # A page's own failed calls (a 404 it shows as a message) are fine; script errors are not.
    assert not [e for e in errors if "Uncaught" in e["message"]], errors
