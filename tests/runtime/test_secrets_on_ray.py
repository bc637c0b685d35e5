"""Secrets and Jsonnet templates on the real local cluster, through the CLI as a user would:
a command datum, run as a Ray task, sees a secret as an environment variable."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest

from tests.conftest import LocalCluster

pytestmark = pytest.mark.ray

TEMPLATE = """
function(name, src)
{
  pipeline: { name: name },
  input: { pfs: { repo: src, glob: "/*" } },
  transform: {
    cmd: ["sh", "-c", "printf %s \\"$TOKEN\\" | wc -c > /pfs/out/n; echo token=$TOKEN"],
    secrets: [{ name: "api-" + name, key: "token", env_var: "TOKEN" }],
  },
}
"""


def test_secret_as_env_var_through_a_jsonnet_pipeline(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    suffix = uuid.uuid4().hex[:8]
    name, src, secret = f"sec{suffix}", f"src{suffix}", f"api-sec{suffix}"
    value = "tok-" + uuid.uuid4().hex
    (tmp_path / "s.json").write_text(json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
         "stringData": {"token": value}}))  # fmt: skip
    c.cli("create", "secret", "-f", str(tmp_path / "s.json"))
    listed = json.loads(c.cli("list", "secret", "-o", "json").stdout)
    assert {"name": secret, "keys": ["token"]}.items() <= next(
        s for s in listed if s["name"] == secret
    ).items()
    assert value not in json.dumps(listed)
    shown = json.loads(c.cli("inspect", "secret", secret, "-o", "json").stdout)
    assert shown["keys"] == ["token"] and value not in json.dumps(shown)
    stored = c.home / "secrets" / f"{secret}.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert value.encode() not in (c.home / "metadata.db").read_bytes()

    c.cli("create", "repo", src)
    c.cli("put", "file", f"{src}@master:/a", "-f", "-", stdin=b"x")
    (tmp_path / "p.jsonnet").write_text(TEMPLATE)
    err = c.cli("create", "pipeline", "--jsonnet", str(tmp_path / "p.jsonnet"), "--arg",
                f"name=other{suffix}", "--arg", f"src={src}", code=1).stderr.decode()  # fmt: skip
    assert err == f"error: pipeline other{suffix}: secret api-other{suffix} not found: create " \
                  "it with `raypachy create secret -f FILE`\n"  # fmt: skip
    c.cli("create", "pipeline", "--jsonnet", str(tmp_path / "p.jsonnet"), "--arg",
          f"name={name}", "--arg", f"src={src}")  # fmt: skip
    spec = json.loads(c.cli("inspect", "pipeline", name, "-o", "json").stdout)
    assert value not in json.dumps(spec)
    # A new pipeline's first job has an id of its own: wait for that job, not the input commit.
    job = json.loads(c.cli("inspect", "pipeline", name, "-o", "json").stdout)["last_job"]
    c.cli("wait", "job", f"{name}@{job}", "--timeout", "280", timeout=300)
    assert c.cli("get", "file", f"{name}@master:/n").stdout.strip() == str(len(value)).encode()
    logs = c.cli("logs", "--pipeline", name).stdout.decode()
    assert "token=***" in logs and value not in logs
    c.cli("delete", "pipeline", name)
    c.cli("delete", "secret", secret)
    assert not stored.exists()
