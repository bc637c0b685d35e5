"""Pipeline secrets on KubeRay: each secret of the local store (``raypachy create secret``)
becomes a Kubernetes Secret, mounted read-only into the head and worker pods at
``MOUNT/<name>/<key>``; ``RAYPACHY_SECRETS_DIR`` tells the control plane to read them there
(``raypachy.pps.secretstore``). Values leave the secret store only into the Secret documents
(``data``, base64, as Kubernetes keeps them); no message quotes one.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from raypachy.errors import InvalidArgumentError

#: Where the pods see the secrets: one directory per secret, one file per key.
MOUNT = "/var/run/raypachy/secrets"
ENV = "RAYPACHY_SECRETS_DIR"
LABEL = "raypachy.io/secret"


def _volume(i: int) -> str:
    return f"raypachy-secret-{i}"  # a DNS label, whatever the secret's (longer) name


def check_names(names: Sequence[str], reserved: Sequence[str]) -> None:
    """Refuse a secret whose Kubernetes name is taken by the deployment itself."""
    for name in names:
        if name in reserved:
            raise InvalidArgumentError(
                f"secret {name}: the deployment's own Secret has that name; recreate the secret "
                "under another name (`raypachy create secret`), or give --credentials-secret"
            )


def secret_documents(
    values: Mapping[str, Mapping[str, bytes]], namespace: str
) -> list[dict[str, Any]]:
    """One Kubernetes Secret per secret, by name."""
    return [
        {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": {LABEL: "pipeline"}},
            "data": {k: base64.b64encode(v).decode() for k, v in sorted(values[name].items())},
        }
        for name in sorted(values)
    ]  # fmt: skip


def volumes(names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"name": _volume(i), "secret": {"secretName": name}} for i, name in enumerate(names)]


def mounts(names: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"name": _volume(i), "mountPath": f"{MOUNT}/{name}", "readOnly": True}
        for i, name in enumerate(names)
    ]
