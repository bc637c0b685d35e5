"""Pod fields of a spec (tolerations, metadata, priority class, node selector) reach the pods
of the pipeline's own KubeRay worker group, and its datums ask for that group's Ray label.
All offline: manifests against the CRD schemas, values against the chart's keys."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from raypachy.deploy.kuberay import KubeRayOptions, cluster_values, manifests
from raypachy.errors import InvalidArgumentError, InvalidSpecError
from raypachy.pps.podgroup import GROUP_LABEL, pod_fields
from raypachy.pps.spec import parse_spec
from raypachy.runtime.resources import task_options
from tests.deploy.test_kuberay import (
    RAYPACHY,
    SHARED,
    chart_keys,
    crd_schema,
    unknown_keys,
    values_problems,
)

TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
SPEC: dict[str, Any] = {
    "pipeline": {"name": "gpu_infer"},
    "transform": {"cmd": ["python3", "infer.py"]},
    "input": {"pfs": {"repo": "images", "glob": "/*"}},
    "tolerations": [TOLERATION, {"operator": "Exists", "effect": "NoExecute"}],
    "metadata": {"labels": {"team": "vision"}, "annotations": {"example.com/cost": "42 EUR"}},
    "schedulingSpec": {"priorityClassName": "high-priority", "nodeSelector": {"pool": "gpu"}},
    "resourceRequests": {"gpu": {"number": 1}},
}


def _group(doc: dict[str, Any], name: str) -> dict[str, Any]:
    groups = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    return next(g for g in groups if g["groupName"] == name)


def test_pod_fields_route_the_datums_to_the_pipelines_own_group() -> None:
    spec = parse_spec(SPEC)  # tolerations used to be refused as "not supported yet"
    options = task_options(spec)
    assert options["label_selector"] == {"pool": "gpu", GROUP_LABEL: "gpu_infer"}
    assert options["num_gpus"] == 1
    plain = parse_spec({k: v for k, v in SPEC.items() if k not in ("tolerations", "metadata")}
                       | {"schedulingSpec": {"nodeSelector": {"pool": "gpu"}}})  # fmt: skip
    assert task_options(plain)["label_selector"] == {"pool": "gpu"}  # a node selector alone
    assert not pod_fields(plain).own_group


def test_the_rendered_group_carries_the_pod_fields_and_matches_the_crd(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    out = subprocess.run([RAYPACHY, "deploy", "kuberay", "--pipeline-group", str(path)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    job = next(d for d in yaml.safe_load_all(out) if d["kind"] == "RayJob")
    schema = crd_schema("RayJob")
    jsonschema.validate(job, schema)
    assert unknown_keys(job, schema) == []
    group = _group(job, "pipeline-gpu-infer")
    assert group["minReplicas"] == 0 and group["rayStartParams"] == {"num-gpus": "1"}
    # The Ray labels the datums ask for: the group's own, and the node selector's.
    assert group["labels"] == {"pool": "gpu", GROUP_LABEL: "gpu_infer"}
    template = group["template"]
    assert template["metadata"] == {"labels": {"team": "vision"},
                                    "annotations": {"example.com/cost": "42 EUR"}}  # fmt: skip
    pod = template["spec"]
    assert pod["tolerations"] == SPEC["tolerations"]
    assert pod["priorityClassName"] == "high-priority"
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_helm_values_carry_the_group_or_say_what_the_chart_cannot() -> None:
    no_priority = {**SPEC, "schedulingSpec": {"nodeSelector": {"pool": "gpu"}}}
    values = cluster_values(KubeRayOptions(pipeline_groups=(pod_fields(parse_spec(no_priority)),)))
    text = (SHARED / "ray-cluster-values.yaml").read_text()
    assert values_problems(values, chart_keys(text), yaml.safe_load(text)) == []
    group = values["additionalWorkerGroups"]["pipeline-gpu-infer"]
    assert group["tolerations"] == SPEC["tolerations"] and group["labels"] == {"team": "vision"}
    assert group["rayStartParams"]["labels"] == f"pool=gpu,{GROUP_LABEL}=gpu_infer"
    with pytest.raises(InvalidArgumentError, match=r"^pipeline gpu_infer: the ray-cluster chart "
                       r"cannot set priorityClassName .* \(no --helm\) instead$"):  # fmt: skip
        cluster_values(KubeRayOptions(pipeline_groups=(pod_fields(parse_spec(SPEC)),)))
    kuberay = manifests(KubeRayOptions(pipeline_groups=(pod_fields(parse_spec(SPEC)),)))
    assert _group(next(d for d in kuberay if d["kind"] == "RayJob"), "pipeline-gpu-infer")


def test_a_spec_without_pod_fields_needs_no_group(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({k: v for k, v in SPEC.items()
                                if k not in ("tolerations", "metadata", "schedulingSpec")}))  # fmt: skip
    run = subprocess.run([RAYPACHY, "deploy", "kuberay", "--pipeline-group", str(path)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode != 0 and run.stdout == ""
    assert "pipeline gpu_infer in" in run.stderr and "drop --pipeline-group" in run.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tolerations": [{"key": "a", "operator": "In"}]},
         r"tolerations\[0\]\.operator 'In': use Exists or Equal$"),
        ({"tolerations": [{"key": "a", "tolerance": 1}]},
         r"tolerations\[0\] has unknown field 'tolerance': a toleration has key, operator"),
        ({"tolerations": ["dedicated=ml"]}, r"tolerations\[0\] is not an object"),
        ({"tolerations": [{"key": "a", "effect": "NoRun"}]},
         r"tolerations\[0\]\.effect 'NoRun': use NoSchedule, PreferNoSchedule or NoExecute$"),
        ({"tolerations": [{"operator": "Exists", "value": "x"}]},
         r"operator Exists takes no value"),
        ({"metadata": {"labels": {"team": "a b"}}},
         r"metadata\.labels team value 'a b' is not a Kubernetes label value"),
        ({"metadata": {"annotations": {"-bad": "x"}}},
         r"metadata\.annotations key '-bad' is not a Kubernetes label key"),
        ({"schedulingSpec": {"priorityClassName": "High"}},
         r"priority_class_name 'High' is not a PriorityClass name"),
        ({"pipeline": {"name": "trailing_"}},
         r"labelled raypachy\.io/pipeline=trailing_, which is not a label value"),
    ],
)  # fmt: skip
def test_bad_pod_fields_are_refused_in_one_line(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message) as e:
        parse_spec({**SPEC, **change})
    assert "\n" not in str(e.value) and str(e.value).startswith("pipeline ")


def test_two_pipelines_cannot_share_a_group() -> None:
    one = pod_fields(parse_spec(SPEC))
    other = pod_fields(parse_spec({**SPEC, "pipeline": {"name": "GPU-infer"}}))
    with pytest.raises(InvalidArgumentError, match=r"^pipelines gpu_infer and GPU-infer would "
                       r"share the worker group pipeline-gpu-infer: "):  # fmt: skip
        manifests(KubeRayOptions(pipeline_groups=(one, other)))
