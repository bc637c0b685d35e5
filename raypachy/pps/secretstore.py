"""Secrets that pipelines read (``transform.secrets``): the Kubernetes Secret JSON that
``pachctl create secret`` takes, kept by the control plane as files under its home.

Each secret is ``$RAYPACHY_HOME/secrets/<name>.json`` (the directory 0700, the file 0600),
never a row of the metadata database. On KubeRay (``raypachy deploy kuberay --secret``) the
secrets are Kubernetes Secrets mounted into the pods, ``$RAYPACHY_SECRETS_DIR/<name>/<key>``:
those are read there, and win over a file of the same name. Only names, key names and
creation times leave this module; values go only to the datums of a job whose pipeline
names them. No message here quotes a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets as _random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from raypachy._private import private_dir
from raypachy.errors import (
    ConflictError,
    InvalidArgumentError,
    SecretExistsError,
    SecretNotFoundError,
)
from raypachy.pps.model import SecretInfo

SECRETS_DIR = "secrets"
# As Kubernetes: a DNS subdomain name; keys of alphanumerics, '-', '_' and '.'.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
MAX_SECRET_BYTES = 1 << 20  # Kubernetes' limit for one Secret


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid secret: {message}")


def check_secret_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = name[:80] if isinstance(name, str) else type(name).__name__
        raise _bad(f"metadata.name {shown!r} must be lowercase letters, digits, '-' and '.', "
                   "starting and ending with a letter or digit")  # fmt: skip
    return name


def parse_secret(doc: Any) -> tuple[str, dict[str, bytes]]:
    """``(name, {key: value})`` of a Kubernetes Secret document (``data`` base64,
    ``stringData`` plain text, which wins on a shared key, as in Kubernetes)."""
    if not isinstance(doc, Mapping):
        raise _bad("give a Kubernetes Secret as a JSON object with metadata.name and data")
    if doc.get("kind", "Secret") != "Secret":
        raise _bad(f"kind is {str(doc.get('kind'))[:40]!r}, not 'Secret'")
    meta = doc.get("metadata")
    name = check_secret_name(meta.get("name") if isinstance(meta, Mapping) else None)
    values: dict[str, bytes] = {}
    for field in ("data", "stringData"):
        entries = doc.get(field) or {}
        if not isinstance(entries, Mapping):
            raise _bad(f"{name}: {field} must be an object of key: value")
        for key, value in entries.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise _bad(f"{name}: key {str(key)[:80]!r} must be letters, digits, '-', '_', '.'")
            if not isinstance(value, str):
                raise _bad(f"{name}: {field}.{key} must be a string")
            if field == "stringData":
                values[key] = value.encode()
                continue
            try:
                values[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _bad(
                    f"{name}: data.{key} is not base64 (put plain text in stringData)"
                ) from None
    if not values:
        raise _bad(f"{name}: no keys: give data (base64) or stringData")
    if sum(len(v) for v in values.values()) > MAX_SECRET_BYTES:
        raise _bad(f"{name}: larger than {MAX_SECRET_BYTES} bytes")
    return name, values


#: Where the pods see mounted Kubernetes Secrets (``raypachy.deploy.secrets``).
MOUNT_ENV = "RAYPACHY_SECRETS_DIR"


class SecretStore:
    """The secrets of one installation, one private file each (and, on KubeRay, those of
    the Kubernetes Secrets mounted at ``mounted``)."""

    def __init__(
        self, home: str | os.PathLike[str], mounted: str | os.PathLike[str] | None = None
    ) -> None:
        """``mounted`` defaults to ``$RAYPACHY_SECRETS_DIR``."""
        self.root = Path(home) / SECRETS_DIR
        given = mounted if mounted is not None else os.environ.get(MOUNT_ENV)
        self.mounted = Path(given) if given else None

    def _mount(self, name: str) -> Path | None:
        """The directory of a mounted Kubernetes Secret of that name, if there is one."""
        if self.mounted is None:
            return None
        found = self.mounted / check_secret_name(name)
        return found if found.is_dir() else None

    @staticmethod
    def _mounted_values(found: Path) -> dict[str, bytes]:
        # Kubernetes keeps its own entries (..data, ..2024_...) beside the key files.
        keys = [p for p in sorted(found.iterdir()) if not p.name.startswith(".")]
        return {p.name: p.read_bytes() for p in keys if _KEY.fullmatch(p.name) and p.is_file()}

    def _path(self, name: str) -> Path:
        return self.root / f"{check_secret_name(name)}.json"

    def create(self, doc: Any) -> SecretInfo:
        """Store a Kubernetes Secret document; an existing name is refused."""
        name, values = parse_secret(doc)
        if self._mount(name) is not None:
            raise SecretExistsError(
                f"secret {name} already exists: the cluster mounts it from the Kubernetes "
                f"Secret {name}"
            )
        root = private_dir(self.root)
        created = time.time()
        record = {"name": name, "created": created,
                  "data": {k: base64.b64encode(v).decode() for k, v in values.items()}}  # fmt: skip
        tmp = root / f".{name}.{os.getpid()}.{_random.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, self._path(name))  # never replaces a secret: create is not update
        except FileExistsError:
            raise SecretExistsError(
                f"secret {name} already exists: `raypachy delete secret {name}` first"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return SecretInfo(name, tuple(sorted(values)), datetime.fromtimestamp(created, UTC))

    def _load(self, name: str) -> dict[str, Any]:
        try:
            with open(self._path(name)) as f:
                record: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise SecretNotFoundError(
                f"secret {name} not found: create it with `raypachy create secret -f FILE`"
            ) from None
        return record

    def inspect(self, name: str) -> SecretInfo:
        found = self._mount(name)
        if found is not None:
            created = datetime.fromtimestamp(found.stat().st_mtime, UTC)
            return SecretInfo(name, tuple(sorted(self._mounted_values(found))), created)
        record = self._load(name)
        created = datetime.fromtimestamp(record["created"], UTC)
        return SecretInfo(record["name"], tuple(sorted(record["data"])), created)

    def list(self) -> list[SecretInfo]:
        names = set()
        if self.root.is_dir():
            names |= {p.stem for p in self.root.glob("*.json") if _NAME.fullmatch(p.stem)}
        if self.mounted is not None and self.mounted.is_dir():
            names |= {p.name for p in self.mounted.iterdir() if _NAME.fullmatch(p.name)}
        return [self.inspect(n) for n in sorted(names)]

    def delete(self, name: str) -> None:
        if self._mount(name) is not None:
            raise ConflictError(
                f"secret {name} is the Kubernetes Secret {name} mounted into the pods: delete it "
                "with kubectl and deploy again without it"
            )
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise SecretNotFoundError(f"secret {name} not found") from None

    def values(self, name: str) -> dict[str, bytes]:
        """The secret's values: only for the datums of a pipeline that names it."""
        found = self._mount(name)
        if found is not None:
            return self._mounted_values(found)
        return {k: base64.b64decode(v) for k, v in self._load(name)["data"].items()}
