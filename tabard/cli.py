"""The `tabard` command. Server-side groups come from `mdm_server.cli`, the agent's from
`device_agent.cli`; this module only assembles them."""

from __future__ import annotations

import typer

from device_agent.cli import agent_app
from mdm_server.cli.accounts import login, logout, users_app
from mdm_server.cli.apps import apps_app
from mdm_server.cli.audit import audit_app
from mdm_server.cli.audit_search import search as audit_search
from mdm_server.cli.backup import backup_app
from mdm_server.cli.commands import commands_app
from mdm_server.cli.demand import demand
from mdm_server.cli.flags import directory_app, flags_app
from mdm_server.cli.fleet import devices_app, tokens_app
from mdm_server.cli.jobs import jobs
from mdm_server.cli.keys import keys_app
from mdm_server.cli.mash import mash_app
from mdm_server.cli.me import me_app
from mdm_server.cli.mfa import mfa_app
from mdm_server.cli.missing_persons import missing_persons_app
from mdm_server.cli.policy import policy_app
from mdm_server.cli.server import admin_app, db_app, serve
from mdm_server.cli.siem import siem_app
from provisioning.cli import provision
from virtual_device.cli import virtual_device_app

app = typer.Typer(
    name="tabard",
    help="Tabard: mobile device management and the secure side for a police Android fleet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.command("login")(login)
app.command("logout")(logout)
app.add_typer(users_app, name="users")
app.add_typer(mfa_app, name="mfa")
app.add_typer(tokens_app, name="tokens")
app.add_typer(devices_app, name="devices")
app.add_typer(commands_app, name="commands")
app.add_typer(policy_app, name="policy")
app.add_typer(apps_app, name="apps")
app.command("jobs")(jobs)
audit_app.command("search")(audit_search)
app.add_typer(audit_app, name="audit")
app.add_typer(siem_app, name="siem")
app.add_typer(backup_app, name="backup")
app.add_typer(keys_app, name="keys")
app.add_typer(flags_app, name="flags")
app.add_typer(directory_app, name="directory")
app.command("demand")(demand)
app.add_typer(missing_persons_app, name="missing-persons")
app.add_typer(mash_app, name="mash")
app.add_typer(me_app, name="me")
app.add_typer(agent_app, name="agent")
app.add_typer(virtual_device_app, name="virtual-device")
app.command("provision")(provision)


def main() -> None:
    app()
