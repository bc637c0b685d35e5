"""The command table: which module holds each verb and noun, imported only when it runs.

Importing every command module costs more than a whole ``list repo`` (deploy renders pull
in the pipeline spec models, the console pulls in its server, ...), so ``raypachy VERB NOUN``
imports the one module that defines that noun; ``--help`` still lists every verb.
A test checks this table against the modules' own ``NOUNS`` and ``COMMANDS``.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

_PKG = "raypachy.cli."

#: Module -> verb -> the nouns it defines for that verb (their order is the help's order).
NOUN_MODULES: dict[str, dict[str, tuple[str, ...]]] = {
    "pfs_commands": {
        "create": ("repo", "branch"),
        "list": ("repo", "commit", "branch", "file"),
        "inspect": ("repo", "commit", "branch", "file"),
        "delete": ("repo", "commit", "branch", "file"),
        "start": ("commit",), "finish": ("commit",), "squash": ("commit",), "wait": ("commit",),
        "subscribe": ("commit",), "put": ("file",), "get": ("file",), "glob": ("file",),
        "diff": ("file",), "find": ("commit",), "edit": ("metadata",), "copy": ("file",),
    },
    "pps_commands": {
        "create": ("pipeline", "secret"),
        "update": ("pipeline", "defaults"),
        "list": ("pipeline", "job", "datum", "secret"),
        "inspect": ("pipeline", "job", "datum", "secret", "defaults"),
        "delete": ("pipeline", "secret"),
        "stop": ("pipeline", "job"), "start": ("pipeline",), "wait": ("job",),
        "restart": ("datum",), "next": ("datum",), "run": ("cron",), "edit": ("pipeline",),
        "rerun": ("pipeline",),
    },
    "project_commands": {
        "create": ("project",), "update": ("project",), "list": ("project",),
        "inspect": ("project",), "delete": ("project",),
    },
    "transaction_commands": {
        "start": ("transaction",), "finish": ("transaction",), "delete": ("transaction",),
        "list": ("transaction",), "inspect": ("transaction",), "stop": ("transaction",),
        "resume": ("transaction",),
    },
}  # fmt: skip

#: Commands without nouns: name -> (module, attribute).
COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "gc": ("pfs_commands", "gc"),
    "fsck": ("pfs_commands", "fsck"),
    "up": ("cluster_commands", "up"),
    "down": ("cluster_commands", "down"),
    "status": ("cluster_commands", "status"),
    "serve": ("cluster_commands", "serve"),
    "logs": ("pps_commands", "logs"),
    "lineage": ("pps_commands", "lineage"),
    "deploy": ("deploy_commands", "deploy"),
    "console": ("console_command", "console"),
    "migrate": ("migrate_command", "migrate"),
    "auth": ("auth_commands", "auth"),
    "config": ("project_commands", "config"),
}

#: The nouns whose verbs read repo and pipeline names in a project (``--project``).
SCOPED_NOUNS = ("repo", "commit", "branch", "file", "pipeline", "job", "datum", "metadata")
SCOPED_COMMANDS = ("logs", "lineage")
_LISTINGS = ("repo", "commit", "pipeline", "job")


def _nouns(verb: str) -> list[tuple[str, str]]:
    """(noun, module) for ``verb``, in the help's order."""
    return [
        (noun, module) for module, verbs in NOUN_MODULES.items() for noun in verbs.get(verb, ())
    ]


def _scoped(command: click.Command, listing: bool = False) -> click.Command:
    """``command`` with ``--project`` (and ``-A`` for a listing), added once."""
    if not any(p.name == "project" for p in command.params):
        from raypachy.cli.project_scope import add_project_options

        add_project_options(command, listing)
    return command


class Verb(click.Group):
    """A verb such as ``list`` whose nouns (``repo``, ``pipeline``) load when named."""

    def __init__(self, name: str) -> None:
        nouns = [noun for noun, _ in _nouns(name)]
        super().__init__(name, help=f"{name.capitalize()} " + ", ".join(nouns) + ".")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(noun for noun, _ in _nouns(self.name or ""))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        verb = self.name or ""
        for noun, module in _nouns(verb):
            if noun == cmd_name:
                found = importlib.import_module(_PKG + module).NOUNS[verb]
                command: click.Command = next(c for c in found if c.name == noun)
                if noun in SCOPED_NOUNS:
                    _scoped(command, verb == "list" and noun in _LISTINGS)
                return command
        return None


class Root(click.Group):
    """The ``raypachy`` group: verbs and commands resolved on demand."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        verbs = {verb for verbs in NOUN_MODULES.values() for verb in verbs}
        self._verbs = {verb: Verb(verb) for verb in verbs}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._verbs, *COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._verbs:
            return self._verbs[cmd_name]
        if cmd_name in COMMAND_MODULES:
            module, attr = COMMAND_MODULES[cmd_name]
            command: click.Command = getattr(importlib.import_module(_PKG + module), attr)
            return _scoped(command) if cmd_name in SCOPED_COMMANDS else command
        return super().get_command(ctx, cmd_name)
