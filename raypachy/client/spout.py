"""A ``@raypachy.spout`` function's process: ``python -m raypachy.client.spout STORAGE CODE
REPO``, started by the spout's actor (``raypachy.runtime.longrunning``, which stays below the
client). The function gets a client connected as the actor's environment says
(``RAYPACHY_ADDRESS``, and ``RAYPACHY_HOME`` or ``RAYPACHY_TOKEN`` for the token) and the name
of its output repo; it should never return: if it does, or raises, the process ends and is
started again.
"""

from __future__ import annotations

import os
import sys

from raypachy.client.client import Client
from raypachy.pps.worker import load_transform


def main(argv: list[str] | None = None) -> int:
    storage, code, repo = argv if argv is not None else sys.argv[1:]
    fn = load_transform(storage, code)
    with Client(os.environ.get("RAYPACHY_ADDRESS"), home=os.environ.get("RAYPACHY_HOME")) as client:
        fn(client, repo)
    print("[raypachy] the spout function returned", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
