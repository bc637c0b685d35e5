"""The suite leaves no process behind: a run whose test leaks one fails, and the leak is stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from raypachy._procs import pid_alive

ROOT = Path(__file__).parents[1]

LEAKY = """
import subprocess


def test_leaks_a_process():
    # A session of its own, like a Ray head: it outlives whoever started it.
    subprocess.Popen(["sleep", "600"], start_new_session=True)
"""


def test_a_process_that_outlives_the_suite_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         str(tmp_path / "test_leaky.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "RAYPACHY_TEST_LEFTOVER_WAIT_S": "2"},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 passed" in out and "processes started by the test suite outlived it" in out, out
    assert "sleep 600" in out, out
    mark = next(line for line in out.splitlines() if "sleep 600" in line)
    pid = int(mark.split(":")[0])
    assert not pid_alive(pid)
