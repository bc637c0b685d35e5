"""What identifies a command pipeline's code when it runs no image: ``transform.code_paths``.

A command runs scripts from the workers' disks, so the spec alone does not say which code
made an output. The files and directories named in ``code_paths`` are hashed when the
pipeline is created or updated (the hash is part of the version, like a Python function's
source), and each batch checks them again before it runs: outputs of two codes never carry
one version.
"""

from __future__ import annotations

import os
from typing import Any

import blake3

from raypachy.errors import ConflictError, InvalidSpecError


def _files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    out: list[str] = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        out.extend(os.path.join(root, n) for n in sorted(names))
    return out


def hash_code_paths(paths: list[str]) -> str:
    """One hash of every file under ``paths`` (names and bytes)."""
    h = blake3.blake3()
    for path in paths:
        if not os.path.isabs(path):
            raise InvalidSpecError(f"transform.code_paths: {path!r} is not an absolute path")
        if not os.path.exists(path):
            raise InvalidSpecError(
                f"transform.code_paths: {path} not found on this host: list files the command "
                "runs, present on every node"
            )
        for file in _files(path):
            h.update(file.encode() + b"\x00")
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            h.update(b"\x01")
    return h.hexdigest()[:32]


def check_code_paths(transform: dict[str, Any]) -> None:
    """Before a batch runs: the code on this node is the code the version recorded."""
    paths = transform.get("code_paths") or []
    if not paths:
        return
    try:
        now = hash_code_paths(paths)
    except InvalidSpecError as e:
        raise ConflictError(f"{e.message} (on node {os.uname().nodename})") from None
    if now != transform.get("code_hash"):
        raise ConflictError(
            f"the code in transform.code_paths ({', '.join(paths)}) changed on node "
            f"{os.uname().nodename} since this pipeline version was made: run `raypachy update "
            "pipeline` to make a version of the new code"
        )
