"""The ``raypachy`` executable: ``next datum`` answered without loading the whole CLI.

A datum-batching command may call ``raypachy next datum`` once per datum, so that call skips
click and the command tables (a few hundred ms); everything else goes to ``cli.main``.
"""

from __future__ import annotations

import gc
import sys

#: Modules a CLI process never runs but its HTTP client imports eagerly when they are
#: installed: httpx's own command line (rich, pygments: ~30 ms) and trio, which httpcore
#: loads in case an async caller runs under it (~50 ms). Marked absent, those imports take
#: their ImportError branch; the command itself is sync, and servers it starts run on asyncio.
NEVER_USED = ("httpx._main", "trio")


def allow_skipped() -> None:
    """Before running code not ours (a pipeline file), let it import what the CLI skipped."""
    for name in NEVER_USED:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]


def main() -> None:
    for name in NEVER_USED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    args = sys.argv[1:]
    if args[:2] == ["next", "datum"] and (
        len(args) == 2 or (len(args) == 4 and args[2] == "--error")
    ):
        _next_datum(args[3] if len(args) == 4 else "")
    from raypachy.cli.main import main as full

    try:
        full()
    finally:
        # The process ends here: its last garbage collections need not walk every object
        # the imports made (~20 ms). atexit handlers and stream flushes still run.
        gc.freeze()


def _next_datum(error: str) -> None:
    from raypachy.errors import RaypachyError
    from raypachy.pps.nextdatum import NO_DATUM_LEFT, next_datum

    try:
        more = next_datum(error, env_file=True)
    except RaypachyError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)
    if not more:
        sys.stderr.write("no datum left\n")
        sys.exit(NO_DATUM_LEFT)
    sys.exit(0)
