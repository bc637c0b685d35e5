"""KubeRay manifests and Helm values for a raypachy cluster, rendered from a few choices.

``raypachy deploy kuberay`` prints them as YAML. The default is a working setup: a RayJob
whose entrypoint is ``raypachy serve`` (the control plane) on a RayCluster with a head that
exposes the raypachy API, a CPU worker group and a GPU worker group that scales from zero,
in-tree autoscaling with an idle timeout, storage on S3 with credentials from a Secret, and
the metadata database on a persistent volume (or, with ``--metadata postgresql://...``, in
PostgreSQL: the URL without its password, which comes from a Secret as ``PGPASSWORD`` and is
never rendered). The API token and the database are the head's only (``_env``): worker pods
get storage and its keys. ``--helm`` prints values for the
``kuberay-operator`` and ``ray-cluster`` charts instead (the files in ``helm-values/``).

The Ray dashboard listens on the pod network (``dashboard-host: 0.0.0.0``): KubeRay submits
the RayJob through its Jobs API and probes it. Its Jobs API runs any code with the pods'
credentials, so the RayCluster turns Ray's token auth on (``authOptions: {mode: token}``,
KubeRay >= 1.5.1 creates the token Secret and gives it to every Ray container). The
``ray-cluster`` chart cannot set ``authOptions``: the Helm values say so at the top
(``HELM_DASHBOARD_NOTE``); restrict the dashboard port with a NetworkPolicy there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raypachy import __version__
from raypachy.deploy import secrets as pipeline_secrets
from raypachy.errors import InvalidArgumentError
from raypachy.pfs.metadata.locations import POSTGRES_SCHEMES, mask
from raypachy.pps.images import IMAGE_LABEL, image_label
from raypachy.pps.podgroup import GROUP_LABEL, PodFields

API_PORT = 8650
RAY_VERSION = "2.60.0"  # Ray token auth needs 2.52 or later
# The node label value clouds give each GPU model (GKE's cloud.google.com/gke-accelerator,
# which the EKS node groups of docs/deploy-kuberay.md copy), by Ray's accelerator type name.
GPU_NODE_LABELS = {
    "T4": "nvidia-tesla-t4", "P4": "nvidia-tesla-p4", "P100": "nvidia-tesla-p100",
    "V100": "nvidia-tesla-v100", "K80": "nvidia-tesla-k80", "A100": "nvidia-tesla-a100",
    "A100-40G": "nvidia-tesla-a100", "A100-80G": "nvidia-a100-80gb", "L4": "nvidia-l4",
    "H100": "nvidia-h100-80gb", "A10G": "nvidia-a10g",
}  # fmt: skip
HELM_DASHBOARD_NOTE = """\
# The Ray dashboard (port 8265, with the Ray Jobs API) listens on the pod network with Ray
# auth OFF: the ray-cluster chart cannot turn on Ray token auth (RayCluster authOptions), and
# KubeRay submits the RayJob that starts raypachy through this port. Anything that reaches it
# can run code with the head's credentials (RAYPACHY_TOKEN, S3 keys). Allow only the
# kuberay-operator to reach port 8265 with a NetworkPolicy, or deploy with
# `raypachy deploy kuberay` (no --helm), whose RayCluster turns Ray token auth on.
"""


@dataclass(frozen=True, slots=True)
class KubeRayOptions:
    name: str = "raypachy"
    namespace: str = "raypachy"
    image: str = f"ghcr.io/raypachy/raypachy:{__version__}"
    storage: str = "s3://raypachy-data/pfs"
    s3_endpoint: str = ""  # empty: AWS itself
    credentials_secret: str = "raypachy-s3"
    cpu_workers_max: int = 4
    gpu_type: str = "T4"  # Ray's accelerator type; datums ask for it with accelerator_type
    gpu_node_selector: str = ""  # the cloud's label value for that GPU (default: by gpu_type)
    gpu_node_label: str = "cloud.google.com/gke-accelerator"
    gpu_workers_max: int = 2
    idle_timeout_s: int = 60
    metadata_volume: str = "10Gi"
    # PostgreSQL for the metadata (empty: SQLite on the volume); its password is the key
    # ``password`` of the Secret ``metadata_secret``.
    metadata: str = ""
    metadata_secret: str = "raypachy-postgres"
    # Worker groups that run a pipeline image, for ``serve --images label`` (KubeRay-native:
    # the image is the pod's, datums are routed by the raypachy.io/image node label).
    image_groups: tuple[str, ...] = ()
    # Pipeline secrets (names only: values go to ``manifests``), mounted into every pod.
    secrets: tuple[str, ...] = ()
    # Worker groups of one pipeline each, whose pods carry its tolerations, metadata, priority
    # class and node selector (``raypachy.pps.podgroup``): its datums run only there.
    pipeline_groups: tuple[PodFields, ...] = ()

    @property
    def gpu_selector(self) -> str:
        """The node label value of ``gpu_type``: as given, or the cloud's name for it."""
        if self.gpu_node_selector:
            return self.gpu_node_selector
        try:
            return GPU_NODE_LABELS[self.gpu_type]
        except KeyError:
            raise InvalidArgumentError(
                f"no known node label value for GPU type {self.gpu_type!r} (known: "
                f"{', '.join(GPU_NODE_LABELS)}): give it with --gpu-node-selector"
            ) from None

    @property
    def metadata_url(self) -> str:
        """``metadata`` once checked: a PostgreSQL URL without a password (empty: SQLite)."""
        url = self.metadata
        if not url:
            return ""
        if not url.lower().startswith(POSTGRES_SCHEMES):
            raise InvalidArgumentError(
                f"--metadata {mask(url)}: give postgresql://user@host[:port]/database (or "
                "leave it out for SQLite on the head's volume)"
            )
        if mask(url) != url:
            raise InvalidArgumentError(
                f"--metadata {mask(url)}: leave the password out of the URL (it would be "
                f"written into the manifest in clear); put it in the Secret "
                f"{self.metadata_secret}, key password"
            )
        return url

    @property
    def images_mode(self) -> str:
        return "label" if self.image_groups else "off"


def _env(o: KubeRayOptions, head: bool = False) -> list[dict[str, Any]]:
    """A container's environment. Storage (and its S3 keys: datums write chunks straight to
    it) for every pod; the API token and the metadata database for the head only, where the
    control plane runs: workers get what a pipeline needs as task arguments (its own token
    once auth is active, the cluster's before) and never touch the database."""
    env: list[dict[str, Any]] = [
        {"name": "RAYPACHY_STORAGE", "value": o.storage},
        {"name": "RAYPACHY_HOME", "value": "/data/raypachy"},
    ]
    if o.s3_endpoint:
        env.append({"name": "RAYPACHY_S3_ENDPOINT", "value": o.s3_endpoint})
    for var, key in (("AWS_ACCESS_KEY_ID", "access-key-id"),
                     ("AWS_SECRET_ACCESS_KEY", "secret-access-key")):  # fmt: skip
        env.append(
            {"name": var, "valueFrom": {"secretKeyRef": {"name": o.credentials_secret, "key": key}}}
        )
    if o.secrets:
        env.append({"name": pipeline_secrets.ENV, "value": pipeline_secrets.MOUNT})
    if not head:
        return env
    env.append({"name": "RAYPACHY_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": o.credentials_secret, "key": "raypachy-token", "optional": True}}})  # fmt: skip
    if o.metadata_url:  # libpq reads PGPASSWORD: the password never shows in the manifest
        env.append({"name": "RAYPACHY_METADATA", "value": o.metadata_url})
        env.append({"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {
            "name": o.metadata_secret, "key": "password"}}})  # fmt: skip
    return env


def _container(o: KubeRayOptions, name: str, cpu: str, memory: str, gpus: int = 0,
               head: bool = False) -> dict[str, Any]:  # fmt: skip
    limits: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpus:
        limits["nvidia.com/gpu"] = gpus
    container: dict[str, Any] = {
        "name": name,
        "image": o.image,
        "imagePullPolicy": "IfNotPresent",
        "env": _env(o, head),
        "resources": {"limits": limits, "requests": {"cpu": cpu, "memory": memory}},
    }
    if head:
        container["ports"] = [
            {"containerPort": 6379, "name": "gcs-server"},
            {"containerPort": 8265, "name": "dashboard"},
            {"containerPort": 10001, "name": "client"},
            {"containerPort": API_PORT, "name": "raypachy-api"},
            {"containerPort": 8080, "name": "metrics"},
        ]
        container["volumeMounts"] = [{"name": "metadata", "mountPath": "/data"}]
    if o.secrets:
        mounts = pipeline_secrets.mounts(o.secrets)
        container["volumeMounts"] = container.get("volumeMounts", []) + mounts
    return container


def _with_secret_volumes(o: KubeRayOptions, pod: dict[str, Any]) -> dict[str, Any]:
    """A pod spec with the volumes of the pipeline secrets its containers mount."""
    if not o.secrets:
        return pod
    return pod | {"volumes": pod.get("volumes", []) + pipeline_secrets.volumes(o.secrets)}


def ray_cluster_spec(o: KubeRayOptions) -> dict[str, Any]:
    """The RayCluster spec: head (control plane, no datums), CPU and GPU worker groups."""
    head = {
        "serviceType": "ClusterIP",
        "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": o.name, "raypachy.io/role": "head"}},
            "spec": _with_secret_volumes(o, {
                "containers": [_container(o, "ray-head", "2", "8Gi", head=True)],
                "volumes": [{"name": "metadata",
                             "persistentVolumeClaim": {"claimName": f"{o.name}-metadata"}}],
            }),
        },
    }  # fmt: skip
    cpu = {
        "groupName": "cpu",
        "replicas": 0,
        "minReplicas": 0,
        "maxReplicas": o.cpu_workers_max,
        "rayStartParams": {},
        "template": {
            "spec": _with_secret_volumes(
                o, {"containers": [_container(o, "ray-worker", "4", "16Gi")]}
            )
        },
    }
    gpu = {
        "groupName": f"gpu-{o.gpu_type.lower()}",
        "replicas": 0,
        "minReplicas": 0,
        "maxReplicas": o.gpu_workers_max,
        # Ray finds the GPU model itself (accelerator_type:<model>); the label lets a pipeline
        # route by node_selector too.
        "rayStartParams": {"num-gpus": "1"},
        "labels": {"raypachy.io/gpu": o.gpu_type},
        "template": {
            "spec": _with_secret_volumes(
                o,
                {
                    "containers": [_container(o, "ray-worker", "4", "16Gi", gpus=1)],
                    "nodeSelector": {o.gpu_node_label: o.gpu_selector},
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                },
            )
        },
    }
    image_groups = []
    for image in o.image_groups:
        label = image_label(image)
        container = _container(o, "ray-worker", "4", "16Gi") | {"image": image}
        image_groups.append({
            "groupName": f"image-{label[:40].lower().strip('-._')}",
            "replicas": 0,
            "minReplicas": 0,
            "maxReplicas": o.cpu_workers_max,
            "rayStartParams": {},
            "labels": {IMAGE_LABEL: label},
            "template": {"spec": _with_secret_volumes(o, {"containers": [container]})},
        })  # fmt: skip
    return {
        "rayVersion": RAY_VERSION,
        # The dashboard (with the Ray Jobs API) listens on the pod network: Ray token auth on.
        "authOptions": {"mode": "token"},
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": {"upscalingMode": "Default", "idleTimeoutSeconds": o.idle_timeout_s},
        "headGroupSpec": head,
        "workerGroupSpecs": [cpu, gpu, *image_groups, *_pipeline_groups(o)],
    }


def _group_labels(p: PodFields) -> dict[str, str]:
    """The Ray labels of a pipeline's group: its own, and its node selector's (so that
    ``node_selector``, routed as a Ray label selector, matches these nodes too)."""
    return {**p.node_selector, GROUP_LABEL: p.pipeline}


def _pipeline_group(p: PodFields, o: KubeRayOptions) -> dict[str, Any]:
    """One pipeline's worker group: its pod fields on the template, its Ray label."""
    template_meta = {k: v for k, v in (("labels", p.labels), ("annotations", p.annotations)) if v}
    pod: dict[str, Any] = {"containers": [_container(o, "ray-worker", "4", "16Gi", gpus=p.gpus)]}
    if p.node_selector:
        pod["nodeSelector"] = dict(p.node_selector)
    if p.tolerations:
        pod["tolerations"] = [dict(t) for t in p.tolerations]
    if p.priority_class_name:
        pod["priorityClassName"] = p.priority_class_name
    return {
        "groupName": f"pipeline-{p.pipeline.lower().replace('_', '-')}"[:63].strip("-"),
        "replicas": 0,
        "minReplicas": 0,
        "maxReplicas": o.gpu_workers_max if p.gpus else o.cpu_workers_max,
        "rayStartParams": {"num-gpus": str(p.gpus)} if p.gpus else {},
        "labels": _group_labels(p),
        "template": {
            **({"metadata": template_meta} if template_meta else {}),
            "spec": _with_secret_volumes(o, pod),
        },
    }


def _pipeline_groups(o: KubeRayOptions) -> list[dict[str, Any]]:
    groups = [_pipeline_group(p, o) for p in o.pipeline_groups]
    seen: dict[str, str] = {}
    for p, group in zip(o.pipeline_groups, groups, strict=True):
        if group["groupName"] in seen:
            raise InvalidArgumentError(
                f"pipelines {seen[group['groupName']]} and {p.pipeline} would share the worker "
                f"group {group['groupName']}: give each pipeline once, with names that differ in "
                "more than case, '_' and '-'"
            )
        seen[group["groupName"]] = p.pipeline
    return groups


def manifests(
    o: KubeRayOptions = KubeRayOptions(),
    secret_values: Mapping[str, Mapping[str, bytes]] | None = None,
) -> list[dict[str, Any]]:
    """Secret, volume claim, RayJob (running ``raypachy serve``) and the API Service; and a
    Secret per pipeline secret of ``o.secrets``, with its values from ``secret_values``."""
    meta = {"namespace": o.namespace}
    values = dict(secret_values or {})
    if sorted(values) != sorted(o.secrets):
        raise InvalidArgumentError(
            f"the values given are of secrets {sorted(values)}, the pods mount {sorted(o.secrets)}"
        )
    pipeline_secrets.check_names(o.secrets, [o.credentials_secret])
    serve = (f"raypachy serve --host 0.0.0.0 --port {API_PORT} --home /data/raypachy "
             f"--storage {o.storage} --images {o.images_mode}")  # fmt: skip
    postgres = [{
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": o.metadata_secret, **meta},
        "stringData": {"password": "CHANGE-ME"},
    }] if o.metadata_url else []  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": o.namespace}},
        {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": o.credentials_secret, **meta},
            "stringData": {"access-key-id": "CHANGE-ME", "secret-access-key": "CHANGE-ME"},
        },
        *pipeline_secrets.secret_documents(values, o.namespace),
        *postgres,
        {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{o.name}-metadata", **meta},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": o.metadata_volume}}},
        },
        {
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": o.name, **meta},
            "spec": {
                "entrypoint": serve,
                "shutdownAfterJobFinishes": False,
                "submissionMode": "K8sJobMode",
                "rayClusterSpec": ray_cluster_spec(o),
            },
        },
        {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{o.name}-api", **meta},
            "spec": {
                "selector": {"app.kubernetes.io/name": o.name, "raypachy.io/role": "head"},
                "ports": [{"name": "raypachy-api", "port": API_PORT, "targetPort": API_PORT}],
            },
        },
    ]  # fmt: skip


def cluster_values(o: KubeRayOptions = KubeRayOptions()) -> dict[str, Any]:
    """Values for the ``ray-cluster`` Helm chart: the same cluster as ``ray_cluster_spec``."""
    repository, _, tag = o.image.rpartition(":")
    spec = ray_cluster_spec(o)
    head_container = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    worker = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    gpu_group = spec["workerGroupSpecs"][1]
    gpu = gpu_group["template"]["spec"]
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "head": {
            "rayVersion": RAY_VERSION,
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": spec["autoscalerOptions"],
            "labels": spec["headGroupSpec"]["template"]["metadata"]["labels"],
            "containerEnv": head_container["env"],
            "resources": head_container["resources"],
            "ports": head_container["ports"],
            "rayStartParams": spec["headGroupSpec"]["rayStartParams"],
            "volumes": spec["headGroupSpec"]["template"]["spec"]["volumes"],
            "volumeMounts": head_container["volumeMounts"],
        },
        "worker": {
            "groupName": "cpu",
            "replicas": 0,
            "minReplicas": 0,
            "maxReplicas": o.cpu_workers_max,
            "containerEnv": worker["env"],
            "resources": worker["resources"],
        },
        "additionalWorkerGroups": {
            gpu_group["groupName"]: {
                "disabled": False,
                "replicas": 0,
                "minReplicas": 0,
                "maxReplicas": o.gpu_workers_max,
                "containerEnv": gpu["containers"][0]["env"],
                "resources": gpu["containers"][0]["resources"],
                "nodeSelector": gpu["nodeSelector"],
                "tolerations": gpu["tolerations"],
                "rayStartParams": {**gpu_group["rayStartParams"],
                                   "labels": f"raypachy.io/gpu={o.gpu_type}"},
            },
            **dict(_helm_pipeline_group(p, o) for p in o.pipeline_groups),
        },
    }  # fmt: skip


def _helm_pipeline_group(p: PodFields, o: KubeRayOptions) -> tuple[str, dict[str, Any]]:
    """A pipeline's worker group as the chart's ``additionalWorkerGroups`` entry."""
    if p.priority_class_name:
        raise InvalidArgumentError(
            f"pipeline {p.pipeline}: the ray-cluster chart cannot set priorityClassName on a "
            "worker group: deploy with `raypachy deploy kuberay` (no --helm) instead"
        )
    group = _pipeline_group(p, o)
    pod = group["template"]["spec"]
    labels = ",".join(f"{k}={v}" for k, v in group["labels"].items())
    values = {
        "disabled": False, "replicas": 0, "minReplicas": 0, "maxReplicas": group["maxReplicas"],
        "labels": dict(p.labels), "annotations": dict(p.annotations),
        "containerEnv": pod["containers"][0]["env"],
        "resources": pod["containers"][0]["resources"],
        "nodeSelector": dict(p.node_selector), "tolerations": [dict(t) for t in p.tolerations],
        "rayStartParams": {**group["rayStartParams"], "labels": labels},
    }  # fmt: skip
    return group["groupName"], values


def operator_values() -> dict[str, Any]:
    """Values for the ``kuberay-operator`` chart: the defaults, with a bounded footprint."""
    return {
        "resources": {"limits": {"cpu": "200m", "memory": "512Mi"},
                      "requests": {"cpu": "100m", "memory": "256Mi"}},
    }  # fmt: skip


def rayjob_for_existing_cluster(o: KubeRayOptions = KubeRayOptions()) -> dict[str, Any]:
    """A RayJob that starts the control plane on a RayCluster installed with Helm."""
    return {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": f"{o.name}-serve", "namespace": o.namespace},
        "spec": {
            "entrypoint": (f"raypachy serve --host 0.0.0.0 --port {API_PORT} --home /data/raypachy "
                           f"--storage {o.storage} --images {o.images_mode}"),
            "clusterSelector": {"ray.io/cluster": f"{o.name}-kuberay"},
            "submissionMode": "HTTPMode",
        },
    }  # fmt: skip
