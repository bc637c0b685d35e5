"""The CLI as a user runs it: a real subprocess per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RAYPACHY = str(Path(sys.executable).with_name("raypachy"))


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "RAYPACHY_HOME": str(tmp_path / "home")}

    def _run(
        *args: str, stdin: bytes | None = None, code: int = 0
    ) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [RAYPACHY, *args], input=stdin, capture_output=True, env=env, timeout=120
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    return _run


def _json(done: subprocess.CompletedProcess[bytes]) -> object:
    return json.loads(done.stdout)


def test_repo_commit_branch_file_roundtrip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", "data", "-d", "raw data")
    repos = _json(run("list", "repo", "-o", "json"))
    assert isinstance(repos, list) and repos[0]["name"] == "data"
    assert {"name", "created", "size_bytes"} <= set(repos[0])
    run("put", "file", "data@master:/in/a.txt", "-f", "-", stdin=b"alpha")
    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "b.txt").write_bytes(b"beta")
    run("put", "file", "data@master:/in", "-r", "-f", str(local))
    run("put", "file", "data@master:/in/a.txt", "-a", "-f", "-", stdin=b"+more")
    assert run("get", "file", "data@master:/in/a.txt").stdout == b"alpha+more"
    files = _json(run("list", "file", "data@master:/in", "-o", "json"))
    assert [(f["path"], f["type"]) for f in files] == [("/in/a.txt", "file"), ("/in/sub/", "dir")]
    assert {"path", "type", "size_bytes", "hash"} <= set(files[0])
    commits = _json(run("list", "commit", "data@master", "-o", "json"))
    assert len(commits) == 3
    assert {"id", "repo", "branch", "parent", "started", "finished", "size_bytes", "error",
            "provenance"} <= set(commits[0])  # fmt: skip
    first = commits[-1]["id"]
    run("create", "branch", "data@v1", "--head", first)
    branches = _json(run("list", "branch", "data", "-o", "json"))
    assert {b["name"]: b["head"] for b in branches}["v1"] == first
    out = tmp_path / "out"
    run("get", "file", "data@master:/in", "-o", str(out))
    assert (out / "sub" / "b.txt").read_bytes() == b"beta"
    diff = _json(run("diff", "file", "data@master", "-o", "json"))
    assert [(d["path"], d["change"]) for d in diff] == [("/in/a.txt", "modified")]
    glob = _json(run("glob", "file", "data@master:/in/*", "-o", "json"))
    assert [g["path"] for g in glob] == ["/in/a.txt", "/in/sub/"]
    inspect = _json(run("inspect", "commit", "data@master^2", "-o", "json"))
    assert isinstance(inspect, dict) and inspect["id"] == first


def test_open_commit_from_the_cli(run) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", "r")
    commit_id = run("start", "commit", "r@master").stdout.decode().strip()
    run("put", "file", "r@master:/x", "-f", "-", stdin=b"x")
    assert _json(run("inspect", "commit", "r@master", "-o", "json"))["finished"] is None  # type: ignore[index]
    run("finish", "commit", f"r@{commit_id}")
    done = _json(run("wait", "commit", f"r@{commit_id}", "-o", "json"))
    assert done["finished"] is not None and done["file_count"] == 1  # type: ignore[index]
    err = run("finish", "commit", f"r@{commit_id}", code=1).stderr.decode()
    assert err.startswith("error: ") and "already finished" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("create", "repo", "bad name"), "invalid repo name", 1),
        (("list", "file", "nope@master"), "repo nope not found", 1),
        (("get", "file", "r@master:/missing"), "not found", 1),
        (("put", "file", "r@master:relative", "-f", "-"), "relative", 1),
        (("put", "file", "r@master:/a/../b", "-f", "-"), "'..'", 1),
        (("inspect", "commit", "r@master^5"), "does not exist", 1),
        (("list", "repo", "--bogus"), "No such option", 2),
        (("put", "file", "r@master:/x"), "Missing option", 2),
    ],
)
def test_bad_input_one_line_error(run, args: tuple[str, ...], message: str, code: int) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", "r")
    run("put", "file", "r@master:/a", "-f", "-", stdin=b"a")
    done = run(*args, stdin=b"", code=code)
    err = done.stderr.decode()
    assert message in err, err
    if code == 1:
        assert err.count("\n") == 1 and err.startswith("error: ")
    assert len(_json(run("list", "commit", "r", "-o", "json"))) == 1  # type: ignore[arg-type]


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    from raypachy import __version__

    assert run("version").stdout.decode().strip() == __version__
