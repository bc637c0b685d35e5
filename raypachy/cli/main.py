"""Entry point: ``raypachy VERB NOUN ...`` like pachctl, with one-line errors."""

from __future__ import annotations

import os
import sys

import click

from raypachy import __version__
from raypachy.cli.lazy import Root
from raypachy.errors import RaypachyError
from raypachy.secrets import redact

EXIT_ERROR = 1
EXIT_USAGE = 2


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="raypachy")
def cli() -> None:
    """raypachy: Git for data and data-driven pipelines on Ray.

    Addresses work as in pachctl: repo@branch, repo@commit, repo@branch^2:/path.
    """


@cli.command("version")
def version() -> None:
    """Print the raypachy version."""
    click.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="raypachy", standalone_mode=False)
        from raypachy.cli.transaction_commands import recorded_note

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
