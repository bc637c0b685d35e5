"""``up``, ``down``, ``status`` and ``serve``: the cluster verbs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from raypachy.cli.migrate_command import metadata_option, use_metadata
from raypachy.cli.render import say

IMAGE_MODES = ["off", "runtime_env", "label"]


def tls_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--tls-cert`` and ``--tls-key``: serve the API and the S3 gateway over https."""
    command = click.option(
        "--tls-key", envvar="RAYPACHY_TLS_KEY", type=click.Path(dir_okay=False),
        help="PEM private key of --tls-cert (or RAYPACHY_TLS_KEY).",
    )(command)  # fmt: skip
    return click.option(
        "--tls-cert", envvar="RAYPACHY_TLS_CERT", type=click.Path(dir_okay=False),
        help="PEM certificate (chain): serve https (or RAYPACHY_TLS_CERT). Clients verify it "
        "with the system CAs or RAYPACHY_CA_FILE.",
    )(command)  # fmt: skip


@click.command("up")
@click.option("--port", type=int, help="API port (default 8650, or RAYPACHY_API_PORT).")
@click.option("--storage", help="Storage URI (default file://$RAYPACHY_HOME/storage).")
@click.option("--num-cpus", type=int, help="CPUs the local Ray head offers (default: all).")
@click.option("--images", type=click.Choice(IMAGE_MODES),
              help="How transform.image is used: off, runtime_env (podman) or label.")  # fmt: skip
@metadata_option
@tls_options
def up(
    port: int | None,
    storage: str | None,
    num_cpus: int | None,
    images: str | None,
    metadata: str | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Start a local Ray head and the raypachy control plane (once)."""
    from raypachy.runtime.cluster import up as start
    from raypachy.tls import tls_files

    tls = tls_files(tls_cert, tls_key)
    use_metadata(metadata)
    state = start(storage=storage, port=port, num_cpus=num_cpus, images=images, tls=tls)
    click.echo(f"raypachy API:  {state.api_url}")
    click.echo(f"console:       {state.api_url}/console/")
    click.echo(f"S3 gateway:    {state.s3_url}")
    click.echo(f"Ray dashboard: {state.dashboard_url}")
    click.echo(f"Ray jobs:      ray job submit --address {state.dashboard_url} -- python job.py")
    click.echo(f"Ray address:   {state.gcs_address}")
    click.echo(f"metrics:       {state.metrics_url}")
    click.echo(f"state:         {state.home} (storage {state.storage})")


@click.command("down")
def down() -> None:
    """Stop what `raypachy up` started (data stays in $RAYPACHY_HOME)."""
    from raypachy.runtime.cluster import down as stop

    state = stop()
    if state is None:
        say("raypachy is not running here")
    elif state.ray_pid is None:
        say("forgot the control plane; the Ray cluster was not started by `up` and keeps running")
    else:
        say(f"stopped the local Ray head (pid {state.ray_pid}); data is kept in {state.home}")


@click.command("status")
@click.option("-o", "--output", type=click.Choice(["json", "table"]))
def status(output: str | None) -> None:
    """Show whether raypachy runs here, and where (exit code 1 when it does not)."""
    from raypachy.client import Client
    from raypachy.runtime.state import home_dir, local_api_url, read_state, s3_port

    state = read_state()
    gateway = (state.s3_url if state else "") or f"http://127.0.0.1:{s3_port()}"
    info: dict[str, object] = {"api_url": local_api_url(), "s3_gateway": gateway, "running": False}
    info["console_url"] = f"{info['api_url']}/console/"
    if state is not None:
        info |= {
            "dashboard_url": state.dashboard_url,
            "ray_address": state.gcs_address,
            "ray_pid": state.ray_pid,
            "home": state.home,
            "storage": state.storage,
            "metrics_url": state.metrics_url,
            "images": state.images,
        }
    try:
        api = Client(str(info["api_url"]), timeout=5, home=home_dir())
        info |= {"running": True, **api.status()}
    except Exception as e:  # not running is an answer, not an error
        info["error"] = str(e)
    if output == "json":
        click.echo(json.dumps(info, indent=2))
    else:
        _echo_tree(info)
    if not info["running"]:
        sys.exit(1)


def _echo_tree(info: dict[str, object], indent: int = 0) -> None:
    """``key: value`` lines, the values of one level in one column."""
    width = max((len(k) for k, v in info.items() if not isinstance(v, dict)), default=0) + 2
    for key, value in info.items():
        if isinstance(value, dict):
            click.echo(f"{' ' * indent}{key}:")
            _echo_tree(value, indent + 2)
        else:
            click.echo(f"{' ' * indent}{key + ':':{width}}{value}".rstrip())


@click.command("serve")
@click.option("--address", help="Ray cluster address (default: RAY_ADDRESS or auto).")
@click.option("--storage", help="Storage URI, e.g. s3://bucket/prefix.")
@click.option("--home", help="Directory for the token and, by default, the metadata database "
              "(default $RAYPACHY_HOME).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for the API.")
@click.option("--port", default=8650, show_default=True, type=int, help="Port for the API.")
@click.option("--s3-port", default=8651, show_default=True, type=int, envvar="RAYPACHY_S3_PORT",
              help="Port for the S3 gateway (same host as the API).")  # fmt: skip
@click.option("--detach", is_flag=True, help="Return once the control plane is up.")
@click.option("--images", type=click.Choice(IMAGE_MODES), envvar="RAYPACHY_IMAGES",
              default="off", show_default=True, help="How transform.image is used.")  # fmt: skip
@metadata_option
@tls_options
def serve(
    address: str | None,
    storage: str | None,
    home: str | None,
    host: str,
    port: int,
    s3_port: int,
    detach: bool,
    images: str,
    metadata: str | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Run the control plane on an existing Ray cluster (for `ray job submit` or a RayJob).

    Beyond loopback it needs RAYPACHY_TOKEN, and should have --tls-cert and --tls-key (the
    files must be on the head node, where the API runs).
    """
    from raypachy.runtime.cluster import serve as run
    from raypachy.server.doors import front_doors
    from raypachy.tls import tls_files

    tls = tls_files(tls_cert, tls_key)
    use_metadata(metadata)
    run(address, home, storage, host, port, detach, images, s3_port, front_doors(), tls)


COMMANDS = [up, down, status, serve]
