"""``raypachy start|finish|delete|list|inspect|stop|resume transaction``, as pachctl's: the
active transaction is kept in the client config, and every command sends it along."""

from __future__ import annotations

from typing import Any

import click

from raypachy.cli.context import client, output_option
from raypachy.cli.render import emit, say
from raypachy.client.config import read_config, set_config
from raypachy.errors import InvalidArgumentError
from raypachy.pfs.transactions import Transaction, TransactionOp

KEY = "active_transaction"

#: The commands a transaction records (pachctl says "Added to transaction" after each).
RECORDED_COMMANDS = {
    ("start", "commit"), ("finish", "commit"), ("create", "branch"), ("delete", "branch"),
    ("create", "pipeline"), ("update", "pipeline"),
}  # fmt: skip


def active_transaction() -> str | None:
    found = read_config().get(KEY)
    return found if isinstance(found, str) else None


def _chosen(txn_id: str | None) -> str:
    chosen = txn_id or active_transaction()
    if not chosen:
        raise InvalidArgumentError(
            "no active transaction: give its id, or start one with `raypachy start transaction`"
        )
    return chosen


def _cells(t: Transaction) -> list[str]:
    return [t.id, t.started.strftime("%Y-%m-%d %H:%M:%S"), str(len(t.ops))]


_COLUMNS = ["TRANSACTION", "STARTED", "OPS"]


@click.command("transaction")
def start_transaction() -> None:
    """Start a transaction and make it the active one (prints its id)."""
    txn = client().start_transaction()
    set_config(KEY, txn.id)
    click.echo(txn.id)


@click.command("transaction")
@click.argument("txn_id", required=False, metavar="[ID]")
def finish_transaction(txn_id: str | None) -> None:
    """Apply the active (or given) transaction's operations, all at once."""
    chosen = _chosen(txn_id)
    txn = client().finish_transaction(chosen)
    if active_transaction() == chosen:
        set_config(KEY, None)
    say(f"completed transaction {txn.id} ({len(txn.ops)} operations)")


@click.command("transaction")
@click.argument("txn_id", required=False, metavar="[ID]")
def delete_transaction(txn_id: str | None) -> None:
    """Drop the active (or given) transaction and what it recorded."""
    chosen = _chosen(txn_id)
    client().delete_transaction(chosen)
    if active_transaction() == chosen:
        set_config(KEY, None)
    say(f"deleted transaction {chosen}")


@click.command("transaction")
@output_option
def list_transaction(output: str | None) -> None:
    """List the transactions not yet finished or deleted."""
    emit(output, client().list_transactions(), _COLUMNS, _cells)


@click.command("transaction")
@click.argument("txn_id", required=False, metavar="[ID]")
@output_option
def inspect_transaction(txn_id: str | None, output: str | None) -> None:
    """Show a transaction (default: the active one) and its recorded operations."""
    txn = client().inspect_transaction(_chosen(txn_id))
    if output == "json":
        emit(output, txn, _COLUMNS, _cells)
        return
    emit(output, txn, _COLUMNS, _cells)
    for n, op in enumerate(txn.ops, 1):
        click.echo(f"{n}. {TransactionOp(op.verb, op.args)}")


@click.command("transaction")
def stop_transaction() -> None:
    """Stop recording into the active transaction (it stays: `resume transaction ID`)."""
    chosen = _chosen(None)
    set_config(KEY, None)
    say(f"stopped using transaction {chosen}")


@click.command("transaction")
@click.argument("txn_id", metavar="ID")
def resume_transaction(txn_id: str) -> None:
    """Make an existing transaction the active one again."""
    txn = client().inspect_transaction(txn_id)
    set_config(KEY, txn.id)
    say(f"resumed transaction {txn.id}")


def recorded_note(argv: list[str]) -> str | None:
    """After a command the active transaction recorded, pachctl's note saying so."""
    words = [a for a in argv if not a.startswith("-")][:2]
    txn = active_transaction() if tuple(words) in RECORDED_COMMANDS else None
    return f"added to transaction {txn}" if txn else None


NOUNS: dict[str, list[Any]] = {
    "start": [start_transaction],
    "finish": [finish_transaction],
    "delete": [delete_transaction],
    "list": [list_transaction],
    "inspect": [inspect_transaction],
    "stop": [stop_transaction],
    "resume": [resume_transaction],
}
