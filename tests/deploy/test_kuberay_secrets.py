"""Pipeline secrets on KubeRay, offline: `deploy kuberay --secret` renders each secret of the
local store as a Kubernetes Secret mounted into the head and every worker pod (validated
against the CRD and Kubernetes' schemas), and the control plane reads secrets from that
mount (laid out as the kubelet lays it out)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from raypachy import errors
from raypachy.deploy.secrets import MOUNT
from raypachy.pachd import Pachd
from raypachy.pps.secretstore import SecretStore
from tests.deploy.test_kuberay import RAYPACHY, crd_schema, unknown_keys

PASSWORD = "s3cr3t-pa55"


def _deploy(home: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAYPACHY_HOME": str(home)}
    env.pop("RAYPACHY_SECRETS_DIR", None)
    done = subprocess.run([RAYPACHY, "deploy", "kuberay", *args], capture_output=True,
                          text=True, env=env)  # fmt: skip
    assert done.returncode == code, done.stderr
    return done


def _pods(job: dict[str, Any]) -> list[dict[str, Any]]:
    spec = job["spec"]["rayClusterSpec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [g["template"]["spec"] for g in groups]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    store = SecretStore(tmp_path / "home", mounted="")
    store.create({"metadata": {"name": "db"}, "stringData": {"password": PASSWORD}})
    store.create(
        {"metadata": {"name": "api.keys"}, "data": {"k": base64.b64encode(b"\0\1").decode()}}
    )
    return tmp_path / "home"


def test_secrets_become_kubernetes_secrets_mounted_into_every_pod(home: Path) -> None:
    spec = home.parent / "tolerant.json"  # a pipeline with a worker group of its own
    spec.write_text(json.dumps({
        "pipeline": {"name": "tolerant"}, "input": {"pfs": {"repo": "r", "glob": "/*"}},
        "transform": {"cmd": ["true"]},
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
    }))  # fmt: skip
    done = _deploy(home, "--secret", "db", "--secret", "api.keys", "--image-group", "team/e:1",
                   "--pipeline-group", str(spec))  # fmt: skip
    assert done.stderr == ""  # the values go to the manifests only, never to a log line
    docs = list(yaml.safe_load_all(done.stdout))
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert set(secrets) == {"raypachy-s3", "db", "api.keys"}
    assert base64.b64decode(secrets["db"]["data"]["password"]).decode() == PASSWORD
    assert base64.b64decode(secrets["api.keys"]["data"]["k"]) == b"\0\1"
    for doc in docs:
        if doc["kind"] != "RayJob":
            kubernetes_validate.validate(doc, "1.30", strict=True)
    [job] = [d for d in docs if d["kind"] == "RayJob"]
    assert unknown_keys(job, crd_schema("RayJob")) == []
    pods = _pods(job)
    assert len(pods) == 5  # head, cpu, gpu, the image group, the pipeline's group
    for pod in pods:
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod},
            "1.30", strict=True,
        )  # fmt: skip
        by_name = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert sorted(by_name.values()) == ["api.keys", "db"]
        [container] = pod["containers"]
        mounted = {m["mountPath"]: m for m in container["volumeMounts"] if m["name"] in by_name}
        assert set(mounted) == {f"{MOUNT}/db", f"{MOUNT}/api.keys"}
        assert all(m["readOnly"] for m in mounted.values())
        assert {"name": "RAYPACHY_SECRETS_DIR", "value": MOUNT} in container["env"]
        assert PASSWORD not in yaml.safe_dump(pod)  # values live in the Secrets only
    assert _deploy(home, "--all-secrets").stdout == _deploy(home, "--secret", "api.keys",
                                                            "--secret", "db").stdout  # fmt: skip
    plain = _deploy(home).stdout  # without --secret: no secret, no mount
    assert "RAYPACHY_SECRETS_DIR" not in plain and "api.keys" not in plain


def test_bad_secret_choices_are_refused_in_one_line(home: Path, tmp_path: Path) -> None:
    missing = _deploy(home, "--secret", "nope", code=1)
    assert missing.stdout == "" and missing.stderr.count("\n") == 1
    assert "secret nope not found" in missing.stderr
    helm = _deploy(home, "--secret", "db", "--helm", "cluster", code=2)
    assert helm.stdout == "" and "without --helm" in helm.stderr
    SecretStore(home, mounted="").create({"metadata": {"name": "raypachy-s3"},
                                          "stringData": {"a": "b"}})  # fmt: skip
    taken = _deploy(home, "--secret", "raypachy-s3", code=1)
    assert taken.stdout == "" and "the deployment's own Secret has that name" in taken.stderr
    empty = _deploy(tmp_path / "empty", "--all-secrets", code=2)
    assert "there are no secrets" in empty.stderr


def _kubelet_mount(root: Path, name: str, values: dict[str, bytes]) -> None:
    """A Secret volume as the kubelet writes it: the files in a timestamped directory,
    ``..data`` pointing at it, and one symlink per key through ``..data``."""
    volume = root / name
    stamped = volume / "..2026_01_01_00_00_00.1"
    stamped.mkdir(parents=True)
    for key, value in values.items():
        (stamped / key).write_bytes(value)
    (volume / "..data").symlink_to(stamped.name)
    for key in values:
        (volume / key).symlink_to(f"..data/{key}")


def test_the_control_plane_reads_secrets_from_the_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = tmp_path / "mount"
    _kubelet_mount(mount, "db", {"password": PASSWORD.encode(), "user": b"app"})
    monkeypatch.setenv("RAYPACHY_SECRETS_DIR", str(mount))
    pachd = Pachd.open(str(tmp_path / "home"))
    [info] = pachd.list_secrets()
    assert (info.name, info.keys) == ("db", ("password", "user"))
    with pytest.raises(errors.SecretExistsError, match="Kubernetes Secret db"):
        pachd.create_secret({"metadata": {"name": "db"}, "stringData": {"password": "x"}})
    with pytest.raises(errors.ConflictError, match="kubectl"):
        pachd.delete_secret("db")
    pachd.create_repo("nums")
    pachd.put_file("nums@master", "/a", b"1")
    pachd.create_pipeline({
        "pipeline": {"name": "reads-secret"}, "input": {"pfs": {"repo": "nums", "glob": "/"}},
        "transform": {"cmd": ["sh", "-c", 'printf %s "$DB_PASS" > /pfs/out/p'],
                      "secrets": [{"name": "db", "key": "password", "env_var": "DB_PASS"}]},
    })  # fmt: skip
    [job] = pachd.run_jobs()
    assert job.state == "success", job.reason
    assert pachd.get_file("reads-secret@master", "/p") == PASSWORD.encode()
    assert not (tmp_path / "home" / "secrets" / "db.json").exists()  # never copied to a file
