"""``raypachy deploy kuberay``: KubeRay YAML on stdout, from a few choices."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from raypachy.deploy.kuberay import (
    HELM_DASHBOARD_NOTE,
    KubeRayOptions,
    cluster_values,
    manifests,
    operator_values,
    rayjob_for_existing_cluster,
)
from raypachy.errors import InvalidSpecError
from raypachy.pps.podgroup import PodFields, pod_fields
from raypachy.pps.spec import read_specs

_DEFAULTS = KubeRayOptions()


def dump(docs: list[object]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False, width=100)


@click.group("deploy")
def deploy() -> None:
    """Render deployment files."""


@deploy.command("kuberay")
@click.option("--name", default=_DEFAULTS.name, show_default=True)
@click.option("--namespace", default=_DEFAULTS.namespace, show_default=True)
@click.option(
    "--image",
    default=_DEFAULTS.image,
    show_default=True,
    help="The raypachy image (build it from the Dockerfile).",
)
@click.option("--storage", default=_DEFAULTS.storage, show_default=True, help="s3://bucket/prefix")
@click.option("--s3-endpoint", default="", help="An S3-compatible endpoint (empty: AWS).")
@click.option(
    "--cpu-max",
    "cpu_workers_max",
    type=click.IntRange(0),
    default=_DEFAULTS.cpu_workers_max,
    show_default=True,
    help="Most CPU workers the autoscaler starts.",
)
@click.option(
    "--gpu-type",
    default=_DEFAULTS.gpu_type,
    show_default=True,
    help="Ray accelerator type (pipelines ask for it with accelerator_type).",
)
@click.option(
    "--gpu-node-selector",
    default="",
    help="The cloud's label value for nodes with that GPU (default: the one of --gpu-type, "
    "e.g. nvidia-tesla-a100 for A100).",
)
@click.option(
    "--gpu-node-label",
    default=_DEFAULTS.gpu_node_label,
    show_default=True,
    help="The cloud's node label for GPU models (EKS: k8s.amazonaws.com/accelerator).",
)
@click.option(
    "--image-group",
    "image_groups",
    multiple=True,
    help="Add a worker group running this pipeline image (routed by node label).",
)
@click.option(
    "--pipeline-group",
    "pipeline_groups",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Add a worker group for the pipeline(s) of this spec file, whose pods carry their "
    "tolerations, metadata, priority class and node selector (their datums run only there).",
)
@click.option(
    "--gpu-max",
    "gpu_workers_max",
    type=click.IntRange(0),
    default=_DEFAULTS.gpu_workers_max,
    show_default=True,
)
@click.option(
    "--idle-timeout",
    "idle_timeout_s",
    type=click.IntRange(1),
    default=_DEFAULTS.idle_timeout_s,
    show_default=True,
)
@click.option(
    "--metadata",
    default="",
    help="Keep the metadata in PostgreSQL: postgresql://user@host[:port]/database, without "
    "the password (it comes from the Secret of --metadata-secret, key password). Default: "
    "SQLite on the head's volume.",
)
@click.option(
    "--metadata-secret",
    default=_DEFAULTS.metadata_secret,
    show_default=True,
    help="The Secret holding the PostgreSQL password (key password).",
)
@click.option(
    "--helm",
    type=click.Choice(["cluster", "operator"]),
    help="Print Helm values for the ray-cluster or kuberay-operator chart.",
)
@click.option(
    "--existing-cluster",
    is_flag=True,
    help="Print a RayJob that starts raypachy on the Helm-installed cluster.",
)
@click.option(
    "--secret",
    "secret_names",
    multiple=True,
    metavar="NAME",
    help="Add this secret of `raypachy create secret` as a Kubernetes Secret mounted into the "
    "pods (repeatable).",
)
@click.option("--all-secrets", is_flag=True, help="Add every secret of `raypachy list secret`.")
def kuberay(
    helm: str | None, existing_cluster: bool, secret_names: tuple[str, ...], all_secrets: bool,
    **choices: object,
) -> None:  # fmt: skip
    """KubeRay manifests (or Helm values) for raypachy, as YAML on stdout.

    With no options: a working default to `kubectl apply -f -` (fill in the Secret first).
    With --secret, the output holds the secrets' values: keep it as you keep them.
    """
    choices["image_groups"] = tuple(choices["image_groups"])  # type: ignore[arg-type]
    choices["pipeline_groups"] = _pipeline_groups(choices["pipeline_groups"])  # type: ignore[arg-type]
    values = _secret_values(secret_names, all_secrets)
    if values and (helm or existing_cluster):
        raise click.UsageError(
            "--secret/--all-secrets render Kubernetes Secrets with the RayJob: give them "
            "without --helm and --existing-cluster"
        )
    options = KubeRayOptions(**choices, secrets=tuple(sorted(values)))  # type: ignore[arg-type]
    if values:
        click.echo(dump(list(manifests(options, values))), nl=False)
    elif helm == "cluster":
        click.echo(HELM_DASHBOARD_NOTE + dump([cluster_values(options)]), nl=False)
    elif helm == "operator":
        click.echo(dump([operator_values()]), nl=False)
    elif existing_cluster:
        click.echo(HELM_DASHBOARD_NOTE + dump([rayjob_for_existing_cluster(options)]), nl=False)
    else:
        click.echo(dump(list(manifests(options))), nl=False)


def _secret_values(names: tuple[str, ...], every: bool) -> dict[str, dict[str, bytes]]:
    """The values of the named secrets of this user's store (``$RAYPACHY_HOME``)."""
    if not names and not every:
        return {}
    from raypachy.pps.secretstore import SecretStore
    from raypachy.runtime.state import home_dir

    store = SecretStore(home_dir())
    wanted = sorted({s.name for s in store.list()} if every else set(names))
    if every and not wanted:
        raise click.UsageError("--all-secrets: there are no secrets (`raypachy create secret`)")
    return {name: store.values(name) for name in wanted}


def _pipeline_groups(paths: tuple[str, ...]) -> tuple[PodFields, ...]:
    """The pod fields of every pipeline in the spec files (a spec without any is refused)."""
    groups = []
    for path in paths:
        for spec in read_specs(Path(path).read_text()):
            fields = pod_fields(spec)
            if not fields.own_group:
                raise InvalidSpecError(
                    f"pipeline {spec.name} in {path} has no tolerations, metadata or "
                    "priority_class_name, so it needs no worker group of its own: drop "
                    "--pipeline-group for it (a node_selector alone routes by Ray labels)"
                )
            groups.append(fields)
    return tuple(groups)
