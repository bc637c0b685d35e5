"""What the demos share: run a CLI command the way a user types it, and show its output."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RAYPACHY = str(Path(sys.executable).with_name("raypachy"))


def fresh_installation(prefix: str) -> None:
    """A temporary $RAYPACHY_HOME and free API and S3 ports, so a demo never touches your data:
    an installation of yours (RAYPACHY_HOME, _STORAGE, _ADDRESS, the ports) is left alone."""
    os.environ["RAYPACHY_HOME"] = tempfile.mkdtemp(prefix=prefix)
    for name in ("RAYPACHY_API_PORT", "RAYPACHY_S3_PORT"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ[name] = str(s.getsockname()[1])
    for name in ("RAYPACHY_ADDRESS", "RAYPACHY_STORAGE"):
        os.environ.pop(name, None)
    print(f"# state lives in RAYPACHY_HOME={os.environ['RAYPACHY_HOME']}", flush=True)


def sh(command: str, stdin: str | None = None, may_fail: bool = False) -> str:
    """Run ``raypachy ...`` (or any command), echo it like a terminal, return its stdout."""
    print(f"\n$ {command}", flush=True)
    args = shlex.split(command)
    if args[0] == "raypachy":
        args[0] = RAYPACHY
    done = subprocess.run(args, input=stdin, text=True, capture_output=True)
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    sys.stdout.flush()
    if done.returncode != 0 and not may_fail:
        raise SystemExit(f"demo step failed: {command}")
    return done.stdout


def sh_json(command: str) -> Any:
    args = shlex.split(command)
    args[0] = RAYPACHY
    return json.loads(subprocess.run(args, text=True, capture_output=True, check=True).stdout)
