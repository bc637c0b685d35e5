"""``raypachy migrate``: the metadata store's numbered schema migrations; and the check
``up``/``serve --metadata`` run before they start anything."""

from __future__ import annotations

import os
import time

import click

METADATA_HELP = (
    "Metadata store: postgresql://user[:password]@host[:port]/database, or a SQLite file "
    "(default: RAYPACHY_METADATA, else $RAYPACHY_HOME/metadata.db)."
)

#: ``--metadata URL`` (also read from RAYPACHY_METADATA).
metadata_option = click.option("--metadata", envvar="RAYPACHY_METADATA", help=METADATA_HELP)


def use_metadata(location: str | None) -> None:
    """Open the store named on the command line (its schema brought up to date), so that a
    bad URL or an unreachable server fails here in one line rather than in the control
    plane; the control plane then finds it in ``RAYPACHY_METADATA``."""
    if not location:
        return
    from raypachy.pfs.metadata import open_store
    from raypachy.pfs.metadata.locations import ENV

    if "://" not in location:
        location = os.path.abspath(location)  # a SQLite file: the control plane runs elsewhere
    open_store(location).close()
    os.environ[ENV] = location


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="Show the migrations; change nothing.")
@metadata_option
def migrate(dry_run: bool, metadata: str | None) -> None:
    """Bring the metadata store's schema up to date, or show its numbered migrations.

    A cluster applies them when it starts; run this first to see or apply them yourself.
    """
    from raypachy.pfs.metadata import open_store
    from raypachy.pfs.metadata.locations import mask, store_location
    from raypachy.pfs.metadata.migrations import migration_states
    from raypachy.runtime.state import home_dir

    location = store_location(str(home_dir()), metadata)
    before = migration_states(location)
    after = before
    if not dry_run and any(m.applied is None for m in before):
        open_store(location).close()
        after = migration_states(location)
    click.echo(f"metadata store: {mask(location)}")
    for m, then in zip(before, after, strict=True):
        if then.applied is None:
            state = "pending"
        elif m.applied is None:
            state = f"applied now ({_when(then.applied)})"
        else:
            state = f"applied {_when(then.applied)}"
        click.echo(f"  {m.version:>3}  {state:<38}  {m.description}")
    waiting = [m.version for m in after if m.applied is None]
    done_now = [t.version for m, t in zip(before, after, strict=True) if m.applied is None
                and t.applied is not None]  # fmt: skip
    latest = after[-1].version
    if waiting:
        n = len(waiting)
        click.echo(f"{n} migration{'s' if n > 1 else ''} pending: run `raypachy migrate` "
                   "to apply (a starting cluster applies them too)")  # fmt: skip
    elif done_now:
        click.echo(f"applied {', '.join(map(str, done_now))}: the schema is at version {latest}")
    else:
        click.echo(f"the schema is up to date (version {latest})")
