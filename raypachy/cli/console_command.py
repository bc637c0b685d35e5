"""``raypachy console``: open the web console, and say how to sign in."""

from __future__ import annotations

import os
import webbrowser

import click
import httpx


def sign_in_hint(address: str) -> str:
    """How to get past the console's login form, if the API asks for a token at all."""
    try:
        asks = httpx.get(f"{address}/v1/config", timeout=10).status_code == 401
    except httpx.HTTPError:
        asks = False
    if not asks:
        return "this API needs no token: the console opens straight away"
    if os.environ.get("RAYPACHY_TOKEN"):
        return "sign in with the API token: the value of RAYPACHY_TOKEN in this shell"
    if not os.environ.get("RAYPACHY_ADDRESS"):  # the local cluster: its home keeps the token
        from raypachy.runtime.state import home_dir
        from raypachy.secrets import TOKEN_FILE

        return (
            f"sign in with the API token in {home_dir() / TOKEN_FILE} (readable by you only; "
            "the console keeps it in that browser tab only)"
        )
    return (
        "sign in with the API token: ask whoever started the API for its RAYPACHY_TOKEN "
        "(the console keeps it in that browser tab only)"
    )


@click.command("console")
@click.option("--no-open", is_flag=True, help="Print the URL without opening a browser.")
def console(no_open: bool) -> None:
    """Open the web console: the DAG, live jobs, data, diffs, lineage and pipelines."""
    from raypachy.cli.context import client

    api = client()
    api.health()  # starts the local cluster when none runs (and says so)
    url = f"{api.address}/console/"
    click.echo(f"raypachy console: {url}")
    click.echo(sign_in_hint(api.address))
    if not no_open and not webbrowser.open(url):
        click.echo("(no browser to open here: open the URL above in one)")
