"""``raypachy auth``: users, tokens and roles, as pachctl's ``auth`` commands."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from raypachy.cli.context import client, output_option
from raypachy.cli.render import emit, say
from raypachy.errors import InvalidArgumentError

KINDS = ["repo", "project", "cluster"]


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _name(kind: str, name: str | None) -> str:
    if kind != "cluster" and not name:
        raise InvalidArgumentError(f"give the {kind}'s name: raypachy auth ... {kind} NAME")
    return name or ""


@click.group("auth")
def auth() -> None:
    """Users, tokens and roles (Pachyderm's model; see README "Users and roles")."""


@auth.command("activate")
def activate() -> None:
    """Turn on users and roles; prints the root user's token, this once."""
    token = client().auth_activate()
    say("auth is active: every request now needs a user's token (the cluster's own token "
        "acts as pach:root). The root token, shown this once:")  # fmt: skip
    click.echo(token)


@auth.command("whoami")
def whoami() -> None:
    """Who this client's token is."""
    me = client().whoami()
    if not me["active"]:
        click.echo("auth is not active: the cluster's token holder may do everything")
        return
    click.echo(f"You are {me['principal']}; token expires: {_when(me.get('expires'))}")


@auth.command("create-token")
@click.option("--user", required=True, help="The user the token is for (alice).")
@click.option("--ttl", help="How long it lasts: 30d, 12h, 90m, 45s (default: until revoked).")
def create_token(user: str, ttl: str | None) -> None:
    """Create a token for a user (clusterAdmin); prints it this once."""
    made = client().create_token(user, ttl)
    say(f"token for {made['user']} (expires: {_when(made.get('expires'))}):")
    click.echo(made["token"])


@auth.command("revoke")
@click.option("--token", help="Revoke this token.")
@click.option("--user", help="Revoke every token of this user.")
def revoke(token: str | None, user: str | None) -> None:
    """Revoke a token, or every token of a user."""
    if (token is None) == (user is None):
        raise InvalidArgumentError("give --token or --user (one of them)")
    count = client().revoke(token=token, user=user)
    say(f"revoked {count} token{'s' if count != 1 else ''}")


@auth.command("set")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("words", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the role back instead.")
def set_role(kind: str, words: tuple[str, ...], remove: bool) -> None:
    """Grant a role: `set repo|project NAME ROLE PRINCIPAL`, `set cluster ROLE PRINCIPAL`.

    \b
    raypachy auth set repo images repoReader user:alice
    raypachy auth set project default projectWriter user:bob
    raypachy auth set cluster clusterAdmin user:carol
    raypachy auth set repo images repoReader user:alice --remove
    """
    wanted = 2 if kind == "cluster" else 3
    if len(words) != wanted:
        usage = "ROLE PRINCIPAL" if kind == "cluster" else "NAME ROLE PRINCIPAL"
        raise InvalidArgumentError(f"usage: raypachy auth set {kind} {usage} (like user:alice)")
    name, role, principal = ("", *words) if kind == "cluster" else words
    bindings = client().set_role(kind, name, principal, role, remove)
    on = f"{kind} {name}".strip()
    say(f"took back {role} on {on} from {principal}" if remove
        else f"granted {role} on {on} to {principal}")  # fmt: skip
    _bindings(None, bindings)


def _bindings(output: str | None, bindings: list[dict[str, Any]]) -> None:
    emit(output, bindings, ["PRINCIPAL", "ROLE", "ON"],
         lambda b: [b["principal"], b["role"], f"{b['kind']} {b['name']}".strip()])  # fmt: skip


@auth.command("get")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name", required=False)
@output_option
def get_roles(kind: str, name: str | None, output: str | None) -> None:
    """Who holds which role on a repo, the project or the cluster."""
    _bindings(output, client().get_roles(kind, _name(kind, name)))


@auth.command("check")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name", required=False)
@output_option
def check(kind: str, name: str | None, output: str | None) -> None:
    """Your roles that reach a repo, the project or the cluster, and what they permit."""
    found = client().check(kind, _name(kind, name))
    emit(output, found, ["PRINCIPAL", "ROLES", "PERMISSIONS"],
         lambda c: [c["principal"] or "-", ", ".join(c["roles"]) or "-",
                    ", ".join(c["permissions"]) or "-"])  # fmt: skip


_SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _since(text: str | None) -> float:
    """``2h`` (ago), or an ISO time (``2026-01-31`` or ``2026-01-31T12:00:00``, UTC)."""
    if not text:
        return 0.0
    if text[:-1].isdigit() and text[-1] in _SINCE_UNITS:
        return time.time() - int(text[:-1]) * _SINCE_UNITS[text[-1]]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgumentError(
            f"bad --since {text!r}: give a duration (90m, 2h, 7d) or a time (2026-01-31T12:00)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@auth.command("audit")
@click.option("--since", help="From this long ago (90m, 2h, 7d) or this time (ISO, UTC).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@output_option
def audit(since: str | None, limit: int, output: str | None) -> None:
    """Every mutation users asked: who, what, when, and how it ended (clusterAdmin)."""
    entries = client().audit(_since(since), limit)
    emit(output, entries, ["WHEN", "WHO", "WHAT", "ON", "OUTCOME"],
         lambda a: [_when(a["at"]), a["principal"], a["action"], a["detail"],
                    a.get("outcome", "")])  # fmt: skip
