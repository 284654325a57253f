"""`tabard me ...`: what an officer does about their own devices, over the API: list them,
and report one lost (docs/commands.md, "Lost devices")."""

from __future__ import annotations

from typing import Annotated

import typer

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient
from tabard.output import empty, print_json, short_id, stdout, styled, table, when

me_app = typer.Typer(help="Your own devices (officers).", no_args_is_help=True)


@me_app.command("devices")
def my_devices(json_output: JsonOption = False) -> None:
    """The devices assigned to you."""
    with api_errors():
        mine = StaffClient.from_stored().get("/api/v1/me/devices")
    if json_output:
        print_json(mine)
        return
    if not mine["devices"]:
        empty("No device is assigned to you.")
        return
    table(
        "Your devices",
        ["id", "serial", "model", "android", "state", "compliance", "last seen"],
        [
            [
                short_id(d["id"]),
                d["serial"],
                d["model"],
                d["android_version"],
                styled(f"LOST since {when(d['lost_at'])}", "bold red")
                if d["lost_at"]
                else d["state"],
                d["compliance"] or "-",
                when(d["last_seen_at"]),
            ]
            for d in mine["devices"]
        ],
    )


@me_app.command("report-lost")
def report_lost(
    device: Annotated[
        str | None,
        typer.Option(
            help="Which of your devices (serial, or id as `tabard me devices` shows it); "
            "needed only if you hold several."
        ),
    ] = None,
    note: Annotated[
        str | None, typer.Option(help="Where and when, for IT (kept in the audit log).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Report your device lost or stolen: its secure side's key is destroyed at once, so
    nobody can open it, and the device is told to lock and to wipe its secure side. IT marks
    it found (`tabard devices found`) if it turns up."""
    which = f"device {device}" if device else "your device"
    if not yes and not typer.confirm(
        f"Report {which} lost? Its secure side can no longer be opened, and its secure-side "
        "data is destroyed."
    ):
        raise typer.Exit(1)
    body = {key: value for key, value in (("device", device), ("note", note)) if value}
    with api_errors():
        reported = StaffClient.from_stored().post("/api/v1/me/device/lost", json=body)
    if json_output:
        print_json(reported)
        return
    serial = next((c["device_serial"] for c in reported["commands"]), None)
    name = f"{serial} ({short_id(reported['device_id'])})" if serial else reported["device_id"]
    stdout.print(f"Device {name} is reported lost.")
    if reported["container_key_destroyed"]:
        stdout.print(
            "Its secure-side key is destroyed: what its secure side held can never be read."
        )
    else:
        stdout.print("The server held no secure-side key for it (none open, or already destroyed).")
    for command in reported["commands"]:
        stdout.print(
            f"Command {short_id(command['id'])}: {command['type']} is {command['state']}; "
            "it runs as soon as the device is online."
        )
