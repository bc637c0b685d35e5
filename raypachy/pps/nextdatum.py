"""``raypachy next datum`` (Pachyderm's ``pachctl next datum``), asked from inside a datum.

A ``transform.datum_batching`` pipeline starts its command once per batch of datums; the
command asks for each datum in turn. Each call reports the previous datum as done (or failed,
with ``error``) and returns once the next one is at ``/pfs``; when no datum is left it says
so, and the worker then ends the command. The worker listens on a unix socket named by
``RAYPACHY_NEXT_DATUM_SOCKET``: one connection per call, one JSON line each way. Only the
standard library here, so that a user's process pays nothing to import it.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from raypachy.errors import UnavailableError

SOCKET_ENV = "RAYPACHY_NEXT_DATUM_SOCKET"
ENV_FILE = ".env"  # /pfs/.env: the current datum's variables, for a shell loop to source
NO_DATUM_LEFT = 3  # the exit code of `raypachy next datum` when the batch is done


def next_datum(error: str = "", *, env_file: bool = False) -> bool:
    """Finish the current datum (failed if ``error`` is given) and wait for the next one.

    Returns True once the next datum is at ``/pfs`` (its ``PACH_DATUM_ID`` and input
    variables are set in ``os.environ``, and with ``env_file`` also written to ``/pfs/.env``
    for a shell to source), False when no datum is left: then exit.
    """
    path = os.environ.get(SOCKET_ENV)
    if not path:
        raise UnavailableError(
            "next datum works only inside a pipeline with transform.datum_batching: true "
            f"(${SOCKET_ENV} is not set)"
        )
    reply = _call(path, {"error": error, "env_file": env_file})
    if reply.get("done"):
        return False
    os.environ.update({str(k): str(v) for k, v in reply.get("env", {}).items()})
    return True


def _call(path: str, request: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            s.sendall(json.dumps(request).encode() + b"\n")
            data = bytearray()
            while not data.endswith(b"\n"):
                piece = s.recv(65536)
                if not piece:
                    break
                data += piece
        except OSError as e:
            raise UnavailableError(f"next datum: the worker is gone ({e}): exit") from e
    if not data:
        return {"done": True}  # the worker closed the call: the batch is over
    reply: dict[str, Any] = json.loads(data)
    return reply
