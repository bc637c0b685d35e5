"""The CLI on a shared machine: it never hands its token to whatever holds the API port, and
``put file -r`` never uploads what symlinks outside the directory point to."""

from __future__ import annotations

import os
import subprocess
import uuid
import warnings
from pathlib import Path

import pytest

from raypachy.pfs import PFS
from raypachy.secrets import ensure_local_token
from tests.conftest import RAYPACHY, LocalCluster
from tests.squatter import squatting_server


def _cli(home: Path, port: int, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "RAYPACHY_HOME": str(home), "RAYPACHY_API_PORT": str(port), **env}
    full.pop("RAYPACHY_ADDRESS", None)
    if "RAYPACHY_TOKEN" not in env:
        full.pop("RAYPACHY_TOKEN", None)
    return subprocess.run([RAYPACHY, *args], env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("token_from", ["home", "RAYPACHY_TOKEN"])
def test_the_cli_does_not_send_its_token_to_a_squatter(tmp_path: Path, token_from: str) -> None:
    home = tmp_path / "home"
    token = ensure_local_token(home) if token_from == "home" else "victim-secret-token"
    env = {"RAYPACHY_TOKEN": token} if token_from == "RAYPACHY_TOKEN" else {}
    with squatting_server() as (port, seen):
        done = _cli(home, port, "list", "repo", **env)
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()  # one line, saying what happened and what to do
    assert line.startswith(f"error: the process answering at http://127.0.0.1:{port} is not the")
    assert "the token was not sent" in line and "raypachy down" in line
    assert seen and all(s.endswith(" None") for s in seen)  # no Authorization, ever
    assert not any(token in s for s in seen)


def test_without_a_token_the_cli_trusts_no_server_on_the_port(tmp_path: Path) -> None:
    home = tmp_path / "home"  # nothing ran here: `up` would write the token
    with squatting_server() as (port, seen):
        done = _cli(home, port, "list", "repo")
    assert done.returncode == 1 and done.stdout == ""
    assert "starting it (raypachy up)" in done.stderr
    assert f"error: port {port} is held by a server that is not this raypachy" in done.stderr
    assert not (home / "cluster.json").exists()  # nothing was started
    assert all(s.startswith("GET /healthz") for s in seen)  # it was only asked who it is


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A downloaded data set: files, links inside it, and links leading out of it."""
    secret = tmp_path / "private" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN PRIVATE KEY----- not for upload\n")
    ds = tmp_path / "dataset"
    (ds / "sub" / "deep").mkdir(parents=True)
    (ds / "data.csv").write_text("a,b\n")
    (ds / "sub" / "deep" / "x.txt").write_text("x\n")
    (ds / "sub" / "notes.txt").symlink_to("/proc/self/environ")
    (ds / "readme.md").symlink_to(secret)
    (ds / "keys").symlink_to(secret.parent)  # a directory outside
    (ds / "dangling").symlink_to(tmp_path / "nowhere")
    (ds / "latest.csv").symlink_to("data.csv")  # inside: followed
    (ds / "alias").symlink_to("sub/deep")  # a directory inside: followed
    (ds / "sub" / "deep" / "loop").symlink_to("..")  # back up the tree: a loop
    return ds, secret


EXPECTED = {"/data.csv": b"a,b\n", "/latest.csv": b"a,b\n", "/sub/deep/x.txt": b"x\n",
            "/alias/x.txt": b"x\n"}  # fmt: skip
SKIPPED = ["alias/loop", "dangling", "keys", "readme.md", "sub/deep/loop", "sub/notes.txt"]


def test_put_dir_skips_links_leaving_the_directory(tmp_path: Path) -> None:
    ds, _ = _dataset(tmp_path)
    pfs = PFS.open(str(tmp_path / "home"))
    pfs.create_repo("ds")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pfs.put_dir("ds@master", "/", ds)
    files = {p: pfs.get_file("ds@master", p) for p, _ in pfs.walk_files("ds@master")}
    assert files == EXPECTED
    [warning] = caught
    message = str(warning.message)
    assert message.startswith(f"skipped 6 link(s) under {ds}: ")
    assert "sub/notes.txt -> /proc/" in message and "readme.md -> " in message
    with pfs.modify("ds@master") as m:  # the library returns what it skipped
        skipped = m.put_tree("/again", ds)
    assert [s.split(" ")[0] for s in skipped] == SKIPPED


@pytest.mark.ray
def test_put_file_r_says_which_links_it_skipped(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    ds, _ = _dataset(tmp_path)
    repo = "links" + uuid.uuid4().hex[:8]
    local_cluster.cli("create", "repo", repo)
    done = local_cluster.cli("put", "file", "-r", f"{repo}@master:/", "-f", str(ds))
    lines = done.stderr.decode().splitlines()
    assert [ln.split(" ")[2] for ln in lines if ln.startswith("skipped link ")] == SKIPPED
    client = local_cluster.client()
    assert {
        p: client.get_file(f"{repo}@master", p) for p, _ in client.walk_data(f"{repo}@master", "/")
    } == EXPECTED
