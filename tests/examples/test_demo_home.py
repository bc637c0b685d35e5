"""``make demo`` runs in a home of its own, whatever the user's environment points at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"

SHOW = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from _demo import fresh_installation
fresh_installation("raypachy-demo-test-")
print(json.dumps({k: os.environ.get(k) for k in
                  ("RAYPACHY_HOME", "RAYPACHY_API_PORT", "RAYPACHY_S3_PORT", "RAYPACHY_STORAGE",
                   "RAYPACHY_ADDRESS")}))
"""


def test_the_demo_leaves_the_users_installation_alone(tmp_path: Path) -> None:
    mine = tmp_path / "my-home"
    mine.mkdir()
    env = {**os.environ, "RAYPACHY_HOME": str(mine), "RAYPACHY_API_PORT": "8650", "RAYPACHY_S3_PORT": "8651",
           "RAYPACHY_STORAGE": "s3://my-bucket/data", "RAYPACHY_ADDRESS": "http://10.0.0.1:8650"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", SHOW, str(EXAMPLES)], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    used = json.loads(done.stdout.splitlines()[-1])
    assert used["RAYPACHY_HOME"] != str(mine) and Path(used["RAYPACHY_HOME"]).is_dir()
    assert os.path.basename(used["RAYPACHY_HOME"]).startswith("raypachy-demo-test-")
    assert used["RAYPACHY_API_PORT"] != "8650" and used["RAYPACHY_S3_PORT"] != "8651"
    assert used["RAYPACHY_STORAGE"] is None and used["RAYPACHY_ADDRESS"] is None
    assert list(mine.iterdir()) == []
    os.rmdir(used["RAYPACHY_HOME"])
