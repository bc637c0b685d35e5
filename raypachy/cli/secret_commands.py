"""Secret verbs, as pachctl spells them: ``create|list|inspect|delete secret``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from raypachy.cli.context import client, output_option
from raypachy.cli.render import ago, emit, say
from raypachy.errors import InvalidArgumentError
from raypachy.pps.model import SecretInfo


def _cells(s: SecretInfo) -> list[str]:
    return [s.name, ",".join(s.keys), ago(s.created)]


@click.command("secret")
@click.option("-f", "--file", "path", required=True,
              help="A Kubernetes Secret as JSON or YAML (- for stdin).")  # fmt: skip
def create_secret(path: str) -> None:
    """Store a secret for pipelines' transform.secrets (its values are never shown again)."""
    import yaml  # a Secret file may be YAML, as kubectl takes it

    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:  # its message may quote the file, values included
        raise InvalidArgumentError(f"invalid secret: {path} is not JSON or YAML") from None
    info = client().create_secret(json.loads(json.dumps(doc, default=str)))
    say(f"created secret {info.name} (keys: {', '.join(info.keys)})")


@click.command("secret")
@output_option
def list_secret(output: str | None) -> None:
    """List secrets: names and key names (never values)."""
    emit(output, client().list_secrets(), ["NAME", "KEYS", "CREATED"], _cells)


@click.command("secret")
@click.argument("name")
@output_option
def inspect_secret(name: str, output: str | None) -> None:
    """Show a secret: its name, key names and creation time (never values)."""
    emit(output, client().inspect_secret(name), ["NAME", "KEYS", "CREATED"], _cells)


@click.command("secret")
@click.argument("name")
def delete_secret(name: str) -> None:
    """Delete a secret (pipelines naming it fail their next jobs until it exists again)."""
    client().delete_secret(name)
    say(f"deleted secret {name}")
