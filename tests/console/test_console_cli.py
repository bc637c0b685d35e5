"""``raypachy console``: the URL, and how to sign in, against a real API server."""

from __future__ import annotations

import os
import subprocess

import httpx

from tests.conftest import RAYPACHY
from tests.console.conftest import TOKEN, Demo


def run(demo: Demo, token: str | None) -> str:
    env = {**os.environ, "RAYPACHY_ADDRESS": demo.url, "BROWSER": "true"}
    env.pop("RAYPACHY_TOKEN", None)
    if token:
        env["RAYPACHY_TOKEN"] = token
    done = subprocess.run([RAYPACHY, "console", "--no-open"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_console_prints_the_url_and_how_to_sign_in(demo: Demo) -> None:
    out = run(demo, TOKEN)
    url = f"{demo.url}/console/"
    assert f"raypachy console: {url}" in out
    assert "value of RAYPACHY_TOKEN" in out and TOKEN not in out
    assert httpx.get(url, timeout=10).status_code == 200
    assert "ask whoever started the API" in run(demo, None)
