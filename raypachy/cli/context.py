"""What every command shares: the client, the ``-o`` option and progress bars."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_state: dict[str, Any] = {"json": False}


@functools.cache
def client() -> Any:
    """The API the commands talk to: RAYPACHY_ADDRESS, or the local cluster.

    With no address set, a command that finds no local cluster starts one and says so.
    """
    from raypachy.cli.project_scope import Scoped
    from raypachy.client import Client
    from raypachy.client.config import read_config

    if os.environ.get("RAYPACHY_ADDRESS"):
        made = Client()
    else:
        from raypachy.runtime.state import home_dir, local_api_url

        made = Client(local_api_url(), on_unreachable=_start_local, home=home_dir())
    active = read_config().get("active_transaction")  # `raypachy start transaction`
    if isinstance(active, str):
        made.use_transaction(active)
    return Scoped(made)  # names are read in the current project


def _start_local() -> str:
    from raypachy.runtime.cluster import start_local  # only when nothing answers

    return start_local()


def page_options(what: str, cursor: str) -> Callable[[F], F]:
    """``--limit`` and ``--start-after`` for a listing (the client fetches it page by page)."""

    def add(fn: F) -> F:
        fn = click.option(
            "--start-after", metavar=cursor, help=f"Only the {what} listed after this one."
        )(fn)
        return click.option(
            "-n", "--limit", type=click.IntRange(min=1), help=f"Show at most this many {what}."
        )(fn)

    return add


def output_option(fn: F) -> F:
    def remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        _state["json"] = value == "json"
        return value

    return click.option(
        "-o",
        "--output",
        type=click.Choice(["json", "table"]),
        callback=remember,
        expose_value=True,
        help="json prints only JSON (a list for list verbs, an object for inspect).",
    )(fn)


@contextmanager
def progress(verb: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; nothing when piped or printing JSON."""
    if _state["json"] or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
        console=None,
    )
    with bar:
        task = bar.add_task(verb, total=total)
        yield lambda n: bar.advance(task, n)
