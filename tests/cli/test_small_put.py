"""``put file`` of at most 1 MiB goes through the API in one request; anything bigger keeps
the direct data plane. Both sides of the boundary, from stdin and from a file, land the same."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from raypachy.cli.pfs_commands import SMALL_PUT_BYTES
from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray


def test_puts_on_both_sides_of_the_small_put_boundary(local_cluster: LocalCluster,
                                                       tmp_path: Path) -> None:  # fmt: skip
    run = local_cluster.cli
    name = "t" + uuid.uuid4().hex[:10]
    run("create", "repo", name)
    sizes = {"empty": 0, "small": 4096, "edge": SMALL_PUT_BYTES, "over": SMALL_PUT_BYTES + 1,
             "big": 3 * SMALL_PUT_BYTES + 17}  # fmt: skip
    for label, size in sizes.items():
        data = os.urandom(size)
        run("put", "file", f"{name}@master:/stdin/{label}", "-f", "-", stdin=data)
        local = tmp_path / label
        local.write_bytes(data)
        run("put", "file", f"{name}@master:/local/{label}", "-f", str(local))
        for where in ("stdin", "local"):
            assert run("get", "file", f"{name}@master:/{where}/{label}").stdout == data, label
    run("put", "file", f"{name}@master:/stdin/small", "-a", "-f", "-", stdin=b"+tail")
    got = run("get", "file", f"{name}@master:/stdin/small").stdout
    assert len(got) == 4096 + 5 and got.endswith(b"+tail")
    run("put", "file", f"{name}@master:/m.txt", "-f", "-", "-m", "described", stdin=b"m")
    head = json.loads(run("inspect", "commit", f"{name}@master", "-o", "json").stdout)
    assert head["description"] == "described"
    commits = json.loads(run("list", "commit", f"{name}@master", "-o", "json").stdout)
    assert len(commits) == 2 * len(sizes) + 2  # one commit per put, none half-made


def test_a_small_put_that_cannot_land_says_why_and_leaves_nothing(
    local_cluster: LocalCluster,
) -> None:
    run = local_cluster.cli
    name = "t" + uuid.uuid4().hex[:10]
    err = run("put", "file", f"{name}@master:/a", "-f", "-", stdin=b"x", code=1).stderr
    assert err.startswith(b"error: ") and err.count(b"\n") == 1 and name.encode() in err
    run("create", "repo", name)
    run("put", "file", f"{name}@master:/dir/a", "-f", "-", stdin=b"a")
    err = run("put", "file", f"{name}@master:/dir", "-f", "-", stdin=b"b", code=1).stderr
    assert err.startswith(b"error: ") and err.count(b"\n") == 1, err
    commits = json.loads(run("list", "commit", f"{name}@master", "-o", "json").stdout)
    assert len(commits) == 1
