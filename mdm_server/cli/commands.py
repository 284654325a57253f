"""`tabard commands ...`: send, approve, cancel and follow commands to devices, over the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from mdm_server.auth.roles import Role, role_name
from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient, segment
from tabard.output import (
    empty,
    fail,
    fields,
    plain,
    print_json,
    short_id,
    stdout,
    styled,
    table,
    when,
)

commands_app = typer.Typer(
    help=f"Commands to devices: lock, wipe, retire, ... ({role_name(Role.it_admin).many}; "
    f"{role_name(Role.auditor).many} may read).",
    no_args_is_help=True,
)

STATE_STYLE = {
    "pending_approval": "yellow",
    "queued": "cyan",
    "delivered": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "dim",
    "expired": "red",
}


def _state(value: str) -> str:
    """A state in its colour, for a line of text."""
    return f"[{STATE_STYLE.get(value, 'white')}]{value}[/]"


def _state_cell(value: str) -> Text:
    return styled(value, STATE_STYLE.get(value, "white"))


CommandId = Annotated[
    str, typer.Argument(help="The command id, or its first 8 characters as `list` shows them.")
]


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs as a dict; `true`/`false` and integers become JSON booleans and numbers."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--param '{pair}': write it as key=value")
        if value in ("true", "false"):
            params[key] = value == "true"
        elif value.lstrip("-").isdigit():
            params[key] = int(value)
        else:
            params[key] = value
    return params


def _show(command: dict[str, Any]) -> None:
    fields(
        f"Command {short_id(command['id'])} ({command['id']})",
        [
            ("type", command["type"]),
            (
                "device",
                f"{command.get('device_serial') or ''} ({short_id(command['device_id'])})",
            ),
            ("state", _state_cell(command["state"])),
            ("params", plain(command["params"])),
            ("reason", command["reason"] or ""),
            ("requested", f"{when(command['created_at'])} by {command['requested_by']}"),
            (
                "approved",
                f"{when(command['approved_at'])} by {command['approved_by']}"
                if command["approved_by"]
                else "",
            ),
            ("expires", when(command["expires_at"]) or "never (only cancelling ends it)"),
            (
                "delivered",
                f"{when(command['delivered_at'])} ({command['deliveries']} times)"
                if command["delivered_at"]
                else "not yet",
            ),
            ("executed", when(command["executed_at"])),
            ("receipt", "verified (signed by the device)" if command["receipt_verified"] else ""),
            ("evidence", plain(command["evidence"])),
            ("error", command["error"] or ""),
            (
                "cancelled",
                f"{when(command['cancelled_at'])} by {command['cancelled_by']}: "
                f"{command['cancel_reason'] or ''}"
                if command["cancelled_at"]
                else "",
            ),
        ],
    )


def second_approver_needed(short: str) -> str:
    """What to do about a command waiting for a second administrator's approval."""
    admin = role_name(Role.it_admin).one
    return f"A second {admin} must approve it: tabard commands approve {short}"


@commands_app.command("send")
def commands_send(
    device: Annotated[str, typer.Argument(help="Device id (or its first 8 characters) or serial.")],
    command_type: Annotated[
        str,
        typer.Argument(
            metavar="TYPE",
            help="lock_device, lock_secure_side, wipe_secure_side, wipe_device, reset_passcode, "
            "clear_pin_lockout, sync_policy, request_posture, locate, retire.",
        ),
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="A parameter, key=value; repeatable.")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why (kept in the audit log; wipes need one).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Send a command to a device. Full wipes and retire wait for a second IT administrator."""
    body: dict[str, Any] = {
        "type": command_type,
        "target": {"device": device},
        "params": parse_params(param or []),
    }
    if reason is not None:
        body["reason"] = reason
    with api_errors():
        batch = StaffClient.from_stored().post("/api/v1/commands", json=body)
    if json_output:
        print_json(batch)
        return
    for command in batch["commands"]:
        again = " (already open; not sent twice)" if command["id"] in batch["reused"] else ""
        shown = short_id(command["id"])
        stdout.print(
            f"Command {shown}: {command['type']} to {command['device_serial']} is "
            f"{_state(command['state'])}{again}."
        )
        if command["state"] == "pending_approval":
            stdout.print(second_approver_needed(shown))


@commands_app.command("show")
def commands_show(command_id: CommandId, json_output: JsonOption = False) -> None:
    """One command: its state, times, evidence and whether its receipt verified."""
    with api_errors():
        command = StaffClient.from_stored().get(f"/api/v1/commands/{segment(command_id)}")
    if json_output:
        print_json(command)
    else:
        _show(command)


@commands_app.command("list")
def commands_list(
    device: Annotated[str | None, typer.Option(help="Only this device's commands.")] = None,
    state: Annotated[str | None, typer.Option(help="pending_approval, queued, ...")] = None,
    command_type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    json_output: JsonOption = False,
) -> None:
    """Commands, newest first."""
    query = {"device": device, "state": state, "type": command_type, "limit": limit}
    with api_errors():
        page = StaffClient.from_stored().get("/api/v1/commands", params=query)
    if json_output:
        print_json(page)
        return
    if not page["items"]:
        empty("No commands.")
        return
    table(
        f"Commands ({page['total']})",
        ["id", "type", "device", "state", "requested", "by", "executed"],
        [
            [
                short_id(c["id"]),
                c["type"],
                c["device_serial"],
                _state_cell(c["state"]),
                when(c["created_at"]),
                c["requested_by"],
                when(c["executed_at"]),
            ]
            for c in page["items"]
        ],
    )


@commands_app.command("approve")
def commands_approve(command_id: CommandId, json_output: JsonOption = False) -> None:
    """Approve a full wipe or retire someone else requested."""
    with api_errors():
        command = StaffClient.from_stored().post(f"/api/v1/commands/{segment(command_id)}/approve")
    if json_output:
        print_json(command)
    else:
        stdout.print(
            f"Command {short_id(command['id'])} ({command['type']}) approved: "
            f"{_state(command['state'])}."
        )


@commands_app.command("cancel")
def commands_cancel(
    command_id: CommandId,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Cancel a command that has not run (a refused approval, too)."""
    body = {"reason": reason} if reason is not None else None
    with api_errors():
        command = StaffClient.from_stored().post(
            f"/api/v1/commands/{segment(command_id)}/cancel", json=body
        )
    if json_output:
        print_json(command)
    else:
        stdout.print(f"Command {short_id(command['id'])} ({command['type']}) cancelled.")
