"""The `tabard` command. Server-side groups come from `mdm_server.cli`, the agent's from
`device_agent.cli`; this module only assembles them.

A command's module is imported only when that command runs: `tabard policy list` need not load
the server, the agent and the provisioning tool first, and starts in a fraction of the time.
`tabard --help`, and `app` for the tests, load them all."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from typing import Any

import typer

# Every command, in the order `tabard --help` lists them: its name, and the module and attribute
# holding it (a group, a Typer app; or a command, a function).
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("mdm_server.cli.server", "serve"),
    "db": ("mdm_server.cli.server", "db_app"),
    "admin": ("mdm_server.cli.server", "admin_app"),
    "login": ("mdm_server.cli.accounts", "login"),
    "logout": ("mdm_server.cli.accounts", "logout"),
    "users": ("mdm_server.cli.accounts", "users_app"),
    "mfa": ("mdm_server.cli.mfa", "mfa_app"),
    "tokens": ("mdm_server.cli.fleet", "tokens_app"),
    "devices": ("mdm_server.cli.fleet", "devices_app"),
    "commands": ("mdm_server.cli.commands", "commands_app"),
    "policy": ("mdm_server.cli.policy", "policy_app"),
    "apps": ("mdm_server.cli.apps", "apps_app"),
    "jobs": ("mdm_server.cli.jobs", "jobs"),
    "audit": ("mdm_server.cli.audit_search", "audit_app"),  # with `audit search` added
    "siem": ("mdm_server.cli.siem", "siem_app"),
    "backup": ("mdm_server.cli.backup", "backup_app"),
    "keys": ("mdm_server.cli.keys", "keys_app"),
    "flags": ("mdm_server.cli.flags", "flags_app"),
    "directory": ("mdm_server.cli.flags", "directory_app"),
    "demand": ("mdm_server.cli.demand", "demand"),
    "missing-persons": ("mdm_server.cli.missing_persons", "missing_persons_app"),
    "mash": ("mdm_server.cli.mash", "mash_app"),
    "me": ("mdm_server.cli.me", "me_app"),
    "agent": ("device_agent.cli", "agent_app"),
    "virtual-device": ("virtual_device.cli", "virtual_device_app"),
    "provision": ("provisioning.cli", "provision"),
}


def build(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The `tabard` app holding these commands (all of them unless told)."""
    built = typer.Typer(
        name="tabard",
        help="Tabard: mobile device management and the secure side for a police Android fleet.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    # A group even when it holds one command, so that the command's name is still read.
    built.callback()(_tabard)
    for name in names:
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            built.add_typer(target, name=name)
        else:
            built.command(name)(target)
    return built


def _tabard() -> None:
    pass


def _command_named(arguments: list[str]) -> str | None:
    """The command these arguments run, if they name one: `tabard` takes no options of its
    own but `--help`, so the first argument is the command."""
    if arguments and arguments[0] in COMMANDS:
        return arguments[0]
    return None


def main() -> None:
    name = _command_named(sys.argv[1:])
    build([name] if name is not None else COMMANDS)()


def __getattr__(name: str) -> Any:
    """`app`, every command loaded: for the tests, which run the CLI in process."""
    if name == "app":
        globals()["app"] = built = build()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
