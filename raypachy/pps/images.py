"""Container images and Ray runtime environments: the rules, checked when a pipeline is created.

How images are used is a cluster setting (``raypachy up --images`` / ``serve --images``):

- ``off`` (default): the image is part of the pipeline version and its provenance; datums run
  in the worker's own environment.
- ``runtime_env``: each datum task gets ``runtime_env={"image_uri": image}`` and Ray runs it in
  that container (podman must be installed on the nodes).
- ``label``: datums go to nodes labelled ``raypachy.io/image=<image>``, i.e. a KubeRay worker
  group that already runs the image.

A mutable tag (``latest`` or none) is refused when images are used: a node may keep running
an old image under the same tag (the classic Pachyderm gotcha). Pin a version or a digest,
or allow it explicitly with ``ray.allow_mutable_image``.
"""

from __future__ import annotations

import re
from typing import Any

from raypachy.errors import InvalidSpecError

MODES = ("off", "runtime_env", "label")
IMAGE_LABEL = "raypachy.io/image"
# runtime_env keys Ray refuses next to image_uri.
_NOT_WITH_IMAGE = ("pip", "uv", "conda", "working_dir", "py_modules", "container")
_JOB_LEVEL_ONLY = ("working_dir", "py_modules")


def is_mutable(image: str) -> bool:
    """True for ``repo`` and ``repo:latest``; False for a version tag or a digest."""
    if "@sha256:" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")


def image_label(image: str) -> str:
    """The image as a Kubernetes label value (63 characters of [A-Za-z0-9._-])."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", image).strip("-._")
    return value[-63:].lstrip("-._") or "image"


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and "://" not in value


def check_images(
    name: str, image: str | None, runtime_env: dict[str, Any], allow_mutable: bool, mode: str
) -> str:
    """Refuse what cannot work (one line each); return a warning for the user, or ""."""
    if mode not in MODES:
        raise InvalidSpecError(f"unknown image mode {mode!r}: use one of {', '.join(MODES)}")
    for key in _JOB_LEVEL_ONLY:
        value = runtime_env.get(key)
        values = value if isinstance(value, list) else [value]
        if value is not None and any(_is_local(v) for v in values):
            raise InvalidSpecError(
                f"pipeline {name}: runtime_env {key} with a local path is for Ray jobs, not "
                "tasks: give a remote URI (s3://..., https://...zip), or use a Python pipeline "
                "(raypachy ships its code)"
            )
    if image is None:
        return ""
    if mode == "runtime_env":
        clash = [k for k in _NOT_WITH_IMAGE if k in runtime_env]
        if clash:
            raise InvalidSpecError(
                f"pipeline {name}: runtime_env {clash[0]} cannot be combined with an image "
                f"(Ray's image_uri): install it in the image {image} instead"
            )
    if is_mutable(image):
        advice = "pin a version tag or a digest (image@sha256:...)"
        if mode != "off" and not allow_mutable:
            raise InvalidSpecError(
                f"pipeline {name}: image {image} has a mutable tag and a node may keep running an "
                f"old one: {advice}, or set ray.allow_mutable_image"
            )
        return f"image {image} has a mutable tag: {advice}"
    return ""
