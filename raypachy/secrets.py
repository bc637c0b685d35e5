"""Secrets: kept out of errors, logs, specs and outputs; the API token checked by hash.

The values of ``RAYPACHY_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ACCESS_KEY_ID`` and
``AWS_SESSION_TOKEN`` in this process's environment are replaced by ``***`` in every message
raypachy shows. A pipeline spec may not carry secrets: an ``env`` entry whose name looks like
one, or whose value is a URL with a password in it, is refused (set it in the workers'
environment, e.g. from a Kubernetes Secret).

The local API's token lives in ``$RAYPACHY_HOME/token`` (mode 0600), written by ``raypachy
up``. Before a client sends it, the server proves it knows it: the client sends a random
challenge to the open ``/healthz`` and checks the answer, an HMAC of the challenge keyed by
the token's hash, so a process squatting on the API port never sees the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path

from raypachy._private import private_dir

SECRET_ENV = ("RAYPACHY_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")
# Names that usually hold secrets: words anywhere in the name, and parts between underscores.
_SECRET_WORDS = re.compile(
    r"SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE|WEBHOOK|COOKIE|APIKEY"
    r"|ACCESS_?KEY|DATABASE_URL|CONN(ECTION)?_?STR",
    re.I,
)
_SECRET_PARTS = re.compile(r"(^|_)(KEY|PASS|PWD|PAT|AUTH|DSN|SIGNATURE)(_|$)", re.I)
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
TOKEN_FILE = "token"
#: A dataset pipeline's Ray Data tasks run (once auth is active) in worker processes of their
#: own, marked by this variable naming the pipeline; its job's token travels inside each
#: task, in Ray Data's DataContext under ``DATASET_TOKEN_KEY``, never in a runtime_env (the
#: Ray dashboard shows those).
DATASET_PIPELINE_ENV = "RAYPACHY_DATASET_PIPELINE"
DATASET_TOKEN_KEY = "raypachy.pipeline_token"
_PROOF_CONTEXT = b"raypachy-api-identity:"


def redact(text: str, also: Iterable[str] = ()) -> str:
    """``text`` with the values of known secret variables, and the values ``also`` (say, a
    pipeline's secrets), replaced by ``***``."""
    values = [os.environ.get(name) for name in SECRET_ENV] + [dataset_token(), *also]
    for value in sorted((v for v in values if v), key=len, reverse=True):  # longest first
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def dataset_token() -> str | None:
    """The pipeline's token inside a Ray Data task of its dataset pipeline's job, else None.

    It is read from the task's DataContext, and only in a worker process marked for that
    pipeline (``DATASET_PIPELINE_ENV``): no other pipeline's code runs there. Ray is never
    imported here: outside a Ray Data task it is not loaded, and there is nothing to find."""
    pipeline = os.environ.get(DATASET_PIPELINE_ENV)
    context = sys.modules.get("ray.data.context") if pipeline else None
    if context is None:
        return None
    found = context.DataContext.get_current().get_config(DATASET_TOKEN_KEY, None)
    if isinstance(found, dict) and found.get("pipeline") == pipeline:
        token = found.get("token")
        return token if isinstance(token, str) and token else None
    return None


def looks_secret(name: str, value: str = "") -> bool:
    """Whether an environment variable ``name`` (with ``value``) likely holds a secret."""
    return bool(
        _SECRET_WORDS.search(name) or _SECRET_PARTS.search(name) or _URL_WITH_PASSWORD.search(value)
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_ref(hash_of_token: str) -> str:
    """What a client names its token by when it asks a server to prove it knows the token:
    the hash of the token's hash (it tells nothing about either)."""
    return hashlib.sha256(hash_of_token.encode()).hexdigest()


def token_matches(presented: str, expected_hash: str) -> bool:
    return hmac.compare_digest(token_hash(presented), expected_hash)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address (never another DNS name:
    ``127.attacker.example`` resolves wherever its owner wants)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- the local token and the server's proof that it knows it ----------------------------------


def read_local_token(home: Path) -> str | None:
    """The token ``raypachy up`` stored in ``home``, or None."""
    try:
        token = (home / TOKEN_FILE).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return token or None


def ensure_local_token(home: Path) -> str:
    """The token stored in ``home``, created (random, mode 0600; the home 0700) if none."""
    token = read_local_token(home)
    if token:
        return token
    path = private_dir(home) / TOKEN_FILE
    tmp = home / f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)  # never replaces a token another process wrote meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    token = read_local_token(home)
    assert token is not None
    return token


def new_challenge() -> str:
    return secrets.token_hex(16)


def server_proof(hash_of_token: str, challenge: str) -> str:
    """What the server answers to ``challenge``: only a holder of the token's hash can."""
    key = bytes.fromhex(hash_of_token)
    return hmac.new(key, _PROOF_CONTEXT + challenge.encode(), hashlib.sha256).hexdigest()


def proof_matches(token: str, challenge: str, proof: object) -> bool:
    expected = server_proof(token_hash(token), challenge)
    return isinstance(proof, str) and hmac.compare_digest(proof, expected)
