"""Project verbs (``create|list|inspect|delete project``), the client settings
(``config set project NAME``), and ``--project`` on every repo, file, commit, branch,
pipeline and job verb, as pachctl 2.5+ has them."""

from __future__ import annotations

from typing import Any

import click

from raypachy.cli.context import client, output_option
from raypachy.cli.project_scope import current, write_config
from raypachy.cli.render import ago, emit, say
from raypachy.client.config import read_config
from raypachy.pfs.model import Project


def _cells(p: Project) -> list[str]:
    return ["*" if p.name == current() else "", p.name, ago(p.created), p.description]


_COLUMNS = ["ACTIVE", "PROJECT", "CREATED", "DESCRIPTION"]


@click.command("project")
@click.argument("name")
@click.option("-d", "--description", default="", help="What the project holds.")
@click.option("--update", is_flag=True, help="Update the description if the project exists.")
def create_project(name: str, description: str, update: bool) -> None:
    """Create a project: a namespace of repos and pipelines."""
    client().create_project(name, description=description, update=update)


@click.command("project")
@click.argument("name")
@click.option("-d", "--description", required=True, help="What the project holds.")
def update_project(name: str, description: str) -> None:
    """Change a project's description."""
    client().create_project(name, description=description, update=True)


@click.command("project")
@output_option
def list_project(output: str | None) -> None:
    """List projects (* marks the current one)."""
    emit(output, client().list_projects(), _COLUMNS, _cells)


@click.command("project")
@click.argument("name")
@output_option
def inspect_project(name: str, output: str | None) -> None:
    """Show one project."""
    emit(output, client().inspect_project(name), _COLUMNS, _cells)


@click.command("project")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete its pipelines and repos too.")
def delete_project(name: str, force: bool) -> None:
    """Delete a project; one that still holds repos or pipelines only with --force."""
    for line in client().delete_project(name, force=force):
        say(line if line.startswith("warning: ") else f"deleted {line}")


@click.group("config")
def config() -> None:
    """Client settings (kept in $RAYPACHY_HOME/config.json)."""


@config.command("set")
@click.argument("key", type=click.Choice(["project"]))
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Set a client setting: `config set project NAME` makes NAME the current project."""
    write_config(key, value)
    say(f"{key} is now {value}")


@config.command("get")
@click.argument("key", type=click.Choice(["project"]))
def config_get(key: str) -> None:
    """Print a client setting (the project: the one names are read in now)."""
    click.echo(current() if key == "project" else read_config().get(key, ""))


NOUNS: dict[str, list[Any]] = {
    "create": [create_project],
    "update": [update_project],
    "list": [list_project],
    "inspect": [inspect_project],
    "delete": [delete_project],
}
