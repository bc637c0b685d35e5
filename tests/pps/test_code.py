"""Python transforms travel as data: a worker without the user's files still shows their lines."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from raypachy.pps.code import pickle_function, unpickle_function

MODULE = """
def helper(n):
    return [x for x in range(n) if check(x)]


def check(x):
    if x == 2:
        raise ValueError("two is not allowed")  # the line a user wants to see
    return True


def transform(datum):
    return helper(3)
"""

RUN = """
import sys, traceback
from raypachy.pps.code import unpickle_function
fn = unpickle_function(open(sys.argv[1], "rb").read())
try:
    fn(None)
except ValueError:
    traceback.print_exc()
"""


def test_a_traceback_on_a_worker_without_the_files_shows_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    name = f"user_pipelines_{uuid.uuid4().hex[:8]}"
    source = project / f"{name}.py"
    source.write_text(MODULE)
    monkeypatch.syspath_prepend(str(project))
    module = importlib.import_module(name)
    try:
        data = pickle_function(module.transform)
    finally:
        del sys.modules[name]
    source.unlink()  # the worker has no copy of the user's project
    pickled = tmp_path / "code.bin"
    pickled.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", RUN, str(pickled)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    tb = done.stderr
    assert "Traceback" in tb and "ValueError: two is not allowed" in tb, tb
    assert f'File "{source}", line 8, in check' in tb, tb
    assert 'raise ValueError("two is not allowed")  # the line a user wants to see' in tb, tb
    assert f'File "{source}", line 3, in helper' in tb, tb  # a by-value module's other code
    assert "return [x for x in range(n) if check(x)]" in tb, tb
    assert "<dynamic-code>" not in tb, tb


def test_code_pickled_without_sources_still_loads() -> None:
    """Transforms stored before the sources travelled along are plain cloudpickles."""
    import cloudpickle

    def double(x: int) -> int:
        return 2 * x

    assert unpickle_function(cloudpickle.dumps(double))(4) == 8
    assert unpickle_function(pickle_function(double))(5) == 10
