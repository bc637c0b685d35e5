"""Entry point: ``raypachy VERB NOUN ...`` like pachctl, with one-line errors."""

from __future__ import annotations

import os
import sys

import click

from raypachy import __version__
from raypachy.cli.auth_commands import auth
from raypachy.cli.cluster_commands import COMMANDS
from raypachy.cli.console_command import console
from raypachy.cli.deploy_commands import deploy
from raypachy.cli.migrate_command import migrate
from raypachy.cli.pfs_commands import NOUNS, fsck, gc
from raypachy.cli.pps_commands import COMMANDS as PPS_COMMANDS
from raypachy.cli.pps_commands import NOUNS as PPS_NOUNS
from raypachy.cli.project_commands import NOUNS as PROJECT_NOUNS
from raypachy.cli.project_commands import config, scope
from raypachy.cli.transaction_commands import NOUNS as TXN_NOUNS
from raypachy.cli.transaction_commands import recorded_note
from raypachy.errors import RaypachyError
from raypachy.secrets import redact

EXIT_ERROR = 1
EXIT_USAGE = 2


class _Verb(click.Group):
    """A verb such as ``list`` whose subcommands are nouns such as ``repo``."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="raypachy")
def cli() -> None:
    """raypachy: Git for data and data-driven pipelines on Ray.

    Addresses work as in pachctl: repo@branch, repo@commit, repo@branch^2:/path.
    """


for verb in sorted(set(NOUNS) | set(PPS_NOUNS) | set(PROJECT_NOUNS) | set(TXN_NOUNS)):
    commands = (NOUNS.get(verb, []) + PPS_NOUNS.get(verb, []) + PROJECT_NOUNS.get(verb, [])
                + TXN_NOUNS.get(verb, []))  # fmt: skip
    group = _Verb(verb, help=f"{verb.capitalize()} " + ", ".join(c.name for c in commands) + ".")
    for command in commands:
        group.add_command(command)
    cli.add_command(group)
cli.add_command(gc)
cli.add_command(fsck)
for command in [*COMMANDS, *PPS_COMMANDS, deploy, console, migrate, auth, config]:
    cli.add_command(command)
scope(cli)  # --project on every repo, file, commit, branch, pipeline and job verb


@cli.command("version")
def version() -> None:
    """Print the raypachy version."""
    click.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="raypachy", standalone_mode=False)
        note = recorded_note(sys.argv[1:] if argv is None else argv)
        if note:
            sys.stderr.write(note + "\n")
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write("aborted\n")
        sys.exit(EXIT_ERROR)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE if isinstance(e, click.UsageError) else e.exit_code)
    except RaypachyError as e:
        sys.stderr.write(f"error: {redact(str(e))}\n")
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        sys.exit(EXIT_ERROR)
    except OSError as e:
        if os.environ.get("RAYPACHY_DEBUG"):
            raise
        sys.stderr.write(f"error: {e.strerror or e}: {getattr(e, 'filename', '') or ''}\n")
        sys.exit(EXIT_ERROR)
    except Exception as e:  # a bug of ours: still one line, with a way to see more
        if os.environ.get("RAYPACHY_DEBUG"):
            raise
        message = redact(f"{type(e).__name__}: {e}")
        sys.stderr.write(f"error: unexpected {message} (RAYPACHY_DEBUG=1 for a traceback)\n")
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
