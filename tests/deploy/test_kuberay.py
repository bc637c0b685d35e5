"""Offline validation of the KubeRay files: manifests against the CRD schemas, built-in kinds
with kubernetes-validate, Helm values keys against the charts' defaults (no cluster needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from raypachy.cli.deploy_commands import dump
from raypachy.deploy.kuberay import (
    KubeRayOptions,
    cluster_values,
    manifests,
    operator_values,
    ray_cluster_spec,
    rayjob_for_existing_cluster,
)
from raypachy.pps.podgroup import PodFields

ROOT = Path(__file__).parents[2]
SHARED = ROOT.parent / "shared" / "kuberay"
RAYPACHY = str(Path(sys.executable).with_name("raypachy"))
CUSTOM = KubeRayOptions(namespace="ml", image="registry.example.com/raypachy:0.1.0",
                        storage="s3://bucket/pfs", s3_endpoint="https://minio.example.com",
                        gpu_type="A100", gpu_node_selector="nvidia-a100", gpu_workers_max=8,
                        image_groups=("ghcr.io/team/edges:1.2",))  # fmt: skip


def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((SHARED / f"ray.io_{kind.lower()}s.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def unknown_keys(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys the schema does not name (Kubernetes would drop them silently)."""
    out: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None or schema.get("x-kubernetes-preserve-unknown-fields"):
            return out
        for key, child in value.items():
            if key not in props:
                out.append(f"{path}.{key}".lstrip("."))
            else:
                out += unknown_keys(child, props[key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, child in enumerate(value):
            out += unknown_keys(child, schema["items"], f"{path}[{i}]")
    return out


def chart_keys(text: str) -> dict[str, Any]:
    """The keys a chart understands: its default values plus the keys its comments document
    (``# enableInTreeAutoscaling: true``), nested by indentation."""
    tree: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, tree)]
    for line in text.splitlines():
        m = re.match(r"^(?P<pre>\s*)(?P<hash>#\s*)?(?P<key>[a-z][A-Za-z0-9_-]*):", line)
        if not m:
            continue
        indent = len(m["pre"]) + (max(0, len(m["hash"]) - 2) if m["hash"] else 0)
        while stack[-1][0] >= indent:
            stack.pop()
        node = stack[-1][1].setdefault(m["key"], {})
        stack.append((indent, node))
    return tree


FREE_FORM = ("limits", "requests")  # Kubernetes resource maps: any resource name


def values_problems(values: Any, known: dict[str, Any], defaults: Any, path: str = "") -> list[str]:
    problems = []
    if not isinstance(values, dict):
        return problems
    for key, child in values.items():
        here = f"{path}.{key}".lstrip(".")
        if (isinstance(defaults, dict) and defaults == {} and path) or path.endswith(FREE_FORM):
            continue  # a free-form map in the chart (labels, nodeSelector, rayStartParams...)
        if path == "additionalWorkerGroups":
            group_known = known.get("smallGroup", {})
            group_defaults = (defaults or {}).get("smallGroup", {})
            problems += values_problems(child, group_known, group_defaults, f"{here}")
            continue
        if key not in known:
            problems.append(here)
            continue
        sub_defaults = defaults.get(key) if isinstance(defaults, dict) else None
        if isinstance(child, dict) and sub_defaults != {}:
            problems += values_problems(child, known[key], sub_defaults, here)
    return problems


@pytest.mark.parametrize("options", [KubeRayOptions(), CUSTOM], ids=["default", "custom"])
def test_rayjob_matches_the_crd(options: KubeRayOptions) -> None:
    jobs = [m for m in manifests(options) if m["kind"] == "RayJob"] + [
        rayjob_for_existing_cluster(options)
    ]
    schema = crd_schema("RayJob")
    for job in jobs:
        jsonschema.validate(job, schema)
        assert unknown_keys(job, schema) == []


def test_unknown_keys_are_caught() -> None:
    job = next(m for m in manifests() if m["kind"] == "RayJob")
    job["spec"]["rayClusterSpec"]["enableInTreeAutoscalling"] = True
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplica"] = 3
    assert sorted(unknown_keys(job, crd_schema("RayJob"))) == [
        "spec.rayClusterSpec.enableInTreeAutoscalling",
        "spec.rayClusterSpec.workerGroupSpecs[0].maxReplica",
    ]


@pytest.mark.parametrize("options", [KubeRayOptions(), CUSTOM], ids=["default", "custom"])
def test_builtin_kinds_are_valid_kubernetes(options: KubeRayOptions) -> None:
    for doc in manifests(options):
        if doc["kind"] == "RayJob":
            continue
        kubernetes_validate.validate(doc, "1.30", strict=True)


@pytest.mark.parametrize(
    ("values", "defaults_file"),
    [
        (cluster_values(), "ray-cluster-values.yaml"),
        (cluster_values(CUSTOM), "ray-cluster-values.yaml"),
        (operator_values(), "kuberay-operator-values.yaml"),
    ],
)
def test_helm_values_use_only_chart_keys(values: dict[str, Any], defaults_file: str) -> None:
    text = (SHARED / defaults_file).read_text()
    known, defaults = chart_keys(text), yaml.safe_load(text)
    assert values_problems(values, known, defaults) == []
    assert (
        values_problems({"head": {"enableInTreeAutoscalling": True}}, known, defaults)
        or defaults_file != "ray-cluster-values.yaml"
    )


def test_gpu_group_scales_from_zero_and_autoscaling_is_on() -> None:
    spec = next(m for m in manifests(CUSTOM) if m["kind"] == "RayJob")["spec"]
    cluster = spec["rayClusterSpec"]
    gpu = next(g for g in cluster["workerGroupSpecs"] if g["groupName"].startswith("gpu"))
    assert (
        cluster["enableInTreeAutoscaling"]
        and cluster["autoscalerOptions"]["idleTimeoutSeconds"] == 60
    )
    assert gpu["minReplicas"] == 0 and gpu["maxReplicas"] == 8
    assert gpu["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-a100"
    }
    container = gpu["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "RAYPACHY_S3_ENDPOINT", "value": "https://minio.example.com"} in container[
        "env"
    ]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"containerPort": 8650, "name": "raypachy-api"} in head["ports"]
    assert (
        "raypachy serve --host 0.0.0.0" in spec["entrypoint"]
        and "--images label" in spec["entrypoint"]
    )
    image = next(g for g in cluster["workerGroupSpecs"] if g["groupName"].startswith("image-"))
    assert image["labels"] == {"raypachy.io/image": "ghcr.io-team-edges-1.2"}
    secrets = [e for e in head["env"] if "valueFrom" in e]
    assert {e["name"] for e in secrets} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "RAYPACHY_TOKEN",
    }


@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("configs/raypachy-kuberay.yaml", []),
        ("configs/rayjob-serve.yaml", ["--existing-cluster"]),
        ("helm-values/ray-cluster.yaml", ["--helm", "cluster"]),
        ("helm-values/kuberay-operator.yaml", ["--helm", "operator"]),
        (
            "helm-values/ray-cluster-postgres.yaml",
            [
                "--helm",
                "cluster",
                "--metadata",
                "postgresql://raypachy@postgres.raypachy.svc:5432/raypachy",
            ],
        ),
    ],
)
def test_checked_in_files_are_the_rendered_defaults(path: str, args: list[str]) -> None:
    rendered = subprocess.run([RAYPACHY, "deploy", "kuberay", *args], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert (ROOT / path).read_text() == rendered, (
        f"regenerate {path} with: raypachy deploy kuberay {' '.join(args)}"
    )


def test_cli_choices_reach_the_yaml() -> None:
    out = subprocess.run([RAYPACHY, "deploy", "kuberay", "--namespace", "ml", "--gpu-type", "A100",
                          "--gpu-max", "3", "--storage", "s3://b/p"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    docs = list(yaml.safe_load_all(out))
    assert all(
        d["metadata"].get("namespace", "ml") == "ml" for d in docs if d["kind"] != "Namespace"
    )
    job = next(d for d in docs if d["kind"] == "RayJob")
    gpu = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][1]
    assert gpu["groupName"] == "gpu-a100" and gpu["maxReplicas"] == 3
    # An A100 group lands on A100 nodes, not on the default T4's.
    assert gpu["labels"] == {"raypachy.io/gpu": "A100"}
    assert gpu["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-tesla-a100"
    }
    assert dump([{"a": 1}]) == "a: 1\n"


def test_a_gpu_type_without_a_known_node_label_needs_one() -> None:
    args = [RAYPACHY, "deploy", "kuberay", "--gpu-type", "B200"]
    refused = subprocess.run(args, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        "error: no known node label value for GPU type 'B200' (known: T4, P4, P100, V100, K80, "
        "A100, A100-40G, A100-80G, L4, H100, A10G): give it with --gpu-node-selector\n"
    )
    given = subprocess.run([*args, "--gpu-node-selector", "nvidia-b200"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    job = next(d for d in yaml.safe_load_all(given) if d["kind"] == "RayJob")
    gpu = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][1]
    assert gpu["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-b200"
    }


@pytest.mark.parametrize("options", [KubeRayOptions(), CUSTOM], ids=["default", "custom"])
def test_the_dashboard_on_the_pod_network_needs_rays_token(options: KubeRayOptions) -> None:
    spec = next(m for m in manifests(options) if m["kind"] == "RayJob")["spec"]["rayClusterSpec"]
    assert spec["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    assert spec["authOptions"] == {"mode": "token"}  # KubeRay makes the token, Ray requires it
    major, minor, _ = (int(x) for x in spec["rayVersion"].split("."))
    assert (major, minor) >= (2, 52)  # Ray token auth
    # The ray-cluster chart cannot turn it on: its values say so plainly, before anything else.
    for args in (["--helm", "cluster"], ["--existing-cluster"]):
        out = subprocess.run([RAYPACHY, "deploy", "kuberay", *args], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        assert out.startswith("# The Ray dashboard (port 8265, with the Ray Jobs API) listens on")
        assert "Ray\n# auth OFF" in out and "NetworkPolicy" in out


# --- PostgreSQL metadata: the URL in the manifest, the password only in a Secret ---------------

PG = KubeRayOptions(metadata="postgresql://raypachy@postgres.db.svc:5432/raypachy")


def test_postgres_metadata_validates_and_takes_its_password_from_a_secret() -> None:
    docs = manifests(PG)
    job = next(m for m in docs if m["kind"] == "RayJob")
    schema = crd_schema("RayJob")
    jsonschema.validate(job, schema)
    assert unknown_keys(job, schema) == []
    for doc in docs:
        if doc["kind"] != "RayJob":
            kubernetes_validate.validate(doc, "1.30", strict=True)
    [secret] = [
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == PG.metadata_secret
    ]
    assert secret["stringData"] == {"password": "CHANGE-ME"}
    cluster = job["spec"]["rayClusterSpec"]
    env = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "RAYPACHY_METADATA", "value": PG.metadata} in env
    assert {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "raypachy-postgres", "key": "password"}}} in env  # fmt: skip
    # The default keeps SQLite on the head's volume, and renders no PostgreSQL at all.
    assert "RAYPACHY_METADATA" not in dump(list(manifests()))
    values = cluster_values(PG)
    text = (SHARED / "ray-cluster-values.yaml").read_text()
    assert values_problems(values, chart_keys(text), yaml.safe_load(text)) == []
    assert {"name": "RAYPACHY_METADATA", "value": PG.metadata} in values["head"]["containerEnv"]


def test_a_metadata_url_with_a_password_or_another_scheme_is_refused() -> None:
    base = [RAYPACHY, "deploy", "kuberay"]
    cases = {
        "postgresql://raypachy:hunter2@db:5432/rp": (
            "error: --metadata postgresql://raypachy:***@db:5432/rp: leave the password out of "
            "the URL (it would be written into the manifest in clear); put it in the Secret "
            "raypachy-postgres, key password\n"
        ),
        "postgresql://raypachy@db/rp?password=hunter2": (
            "error: --metadata postgresql://raypachy@db/rp?password=***: leave the password out "
            "of the URL (it would be written into the manifest in clear); put it in the Secret "
            "raypachy-postgres, key password\n"
        ),
        "mysql://db/rp": (
            "error: --metadata mysql://db/rp: give postgresql://user@host[:port]/database (or "
            "leave it out for SQLite on the head's volume)\n"
        ),
    }
    for url, expected in cases.items():
        for extra in ([], ["--helm", "cluster"]):
            refused = subprocess.run([*base, *extra, "--metadata", url], capture_output=True,
                                     text=True)  # fmt: skip
            assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", expected)
            assert "hunter2" not in refused.stderr


def test_the_secret_password_reaches_postgres_as_pgpassword(
    pg_url: str, pg_stores: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the pods do: the URL without its password, the password in PGPASSWORD."""
    from raypachy.errors import UnavailableError
    from raypachy.pfs.metadata import open_store
    from raypachy.pfs.metadata.locations import mask

    user_part, rest = pg_url.split("://", 1)[1].split("@", 1)
    user, password = user_part.split(":", 1)
    bare = f"postgresql://{user}@{rest}"
    assert mask(bare) == bare
    monkeypatch.setenv("PGPASSWORD", "not-it")
    with pytest.raises(UnavailableError, match="cannot open the metadata database"):
        open_store(bare)
    monkeypatch.setenv("PGPASSWORD", password)
    with open_store(bare).read() as tx:
        assert tx.repos() == []


def test_only_the_head_mounts_the_home_that_holds_the_clusters_token() -> None:
    """Datums run on worker pods: none of them mounts the volume of ``$RAYPACHY_HOME`` (the
    token file, the metadata), so no datum there can read it."""
    spec = ray_cluster_spec(CUSTOM)
    [head] = spec["headGroupSpec"]["template"]["spec"]["containers"]
    home = next(e["value"] for e in head["env"] if e["name"] == "RAYPACHY_HOME")
    assert any(home.startswith(m["mountPath"]) for m in head["volumeMounts"])
    groups = spec["workerGroupSpecs"]
    assert len(groups) >= 2
    for group in groups:
        pod = group["template"]["spec"]
        assert not any(v["name"] == "metadata" for v in pod.get("volumes", [])), group["groupName"]
        for container in pod["containers"]:
            mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
            assert not any(home.startswith(m) or m.startswith(home) for m in mounts), mounts


# --- what worker pods carry: storage only, never the API token or the metadata database -----

CONTROL_PLANE_ENV = {"RAYPACHY_TOKEN", "RAYPACHY_METADATA", "PGPASSWORD"}
EVERY_GROUP = KubeRayOptions(
    metadata="postgresql://raypachy@postgres.db.svc:5432/raypachy",
    image_groups=("ghcr.io/team/edges:1.2",), secrets=("hub",),
    pipeline_groups=(
        PodFields("trainer", node_selector={"pool": "a100"}, gpus=1),
        PodFields("edges", labels={"team": "vision"}),
    ),
)  # fmt: skip


def _names(env: list[dict[str, Any]]) -> set[str]:
    return {e["name"] for e in env}


def test_only_the_head_carries_the_api_token_and_the_metadata_database() -> None:
    """Datums run on worker pods: they get the token they act with as task arguments (the
    pipeline's own once auth is active), and never open the database, so no worker pod's
    environment holds the cluster's token (root once auth is active) or PGPASSWORD."""
    docs = manifests(EVERY_GROUP, {"hub": {"key": b"v"}})
    job = next(m for m in docs if m["kind"] == "RayJob")
    schema = crd_schema("RayJob")
    jsonschema.validate(job, schema)
    assert unknown_keys(job, schema) == []
    cluster = job["spec"]["rayClusterSpec"]
    [head] = cluster["headGroupSpec"]["template"]["spec"]["containers"]
    assert _names(head["env"]) >= CONTROL_PLANE_ENV
    groups = cluster["workerGroupSpecs"]
    names = [g["groupName"] for g in groups]
    assert names == ["cpu", "gpu-t4", "image-ghcr.io-team-edges-1.2", "pipeline-trainer",
                     "pipeline-edges"], names  # fmt: skip
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            env = _names(container["env"])
            assert not env & CONTROL_PLANE_ENV, (group["groupName"], env)
            # What datums still need on the worker: the storage and its keys.
            assert {"RAYPACHY_STORAGE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env

    values = cluster_values(EVERY_GROUP)
    text = (SHARED / "ray-cluster-values.yaml").read_text()
    assert values_problems(values, chart_keys(text), yaml.safe_load(text)) == []
    assert _names(values["head"]["containerEnv"]) >= CONTROL_PLANE_ENV
    workers = [values["worker"], *values["additionalWorkerGroups"].values()]
    assert len(workers) == 4
    for worker in workers:
        assert not _names(worker["containerEnv"]) & CONTROL_PLANE_ENV, worker
    # The checked-in Helm values are of the same shape.
    checked_in = yaml.safe_load((ROOT / "helm-values" / "ray-cluster-postgres.yaml").read_text())
    assert _names(checked_in["head"]["containerEnv"]) >= CONTROL_PLANE_ENV
    for worker in [checked_in["worker"], *checked_in["additionalWorkerGroups"].values()]:
        assert not _names(worker["containerEnv"]) & CONTROL_PLANE_ENV, worker
