"""`tabard tokens ...` and `tabard devices ...`: enrolment tokens and the fleet, over the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from mdm_server.auth.roles import Role, role_name
from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.audit import parse_instant
from mdm_server.cli.commands import second_approver_needed
from mdm_server.cli.session import StaffClient, segment
from tabard.output import (
    empty,
    fail,
    fields,
    parse_duration,
    plain,
    print_json,
    short_id,
    stdout,
    styled,
    table,
    when,
)

tokens_app = typer.Typer(
    help=f"Enrolment tokens ({role_name(Role.it_admin).many}).", no_args_is_help=True
)
devices_app = typer.Typer(help="The fleet inventory.", no_args_is_help=True)


def _write_qr(payload: dict[str, Any], path: Path) -> None:
    from mdm_server.enrolment.qr import qr_png, qr_svg
    from mdm_server.enrolment.schemas import EnrolmentPayload

    model = EnrolmentPayload(**payload)
    suffix = path.suffix.lower()
    if suffix == ".png":
        path.write_bytes(qr_png(model))
    elif suffix == ".svg":
        path.write_text(qr_svg(model))
    else:
        fail("--qr must name a .png or .svg file")


@tokens_app.command("create")
def tokens_create(
    group: Annotated[str, typer.Option(help="Group the enrolled devices join.")],
    officer: Annotated[str | None, typer.Option(help="Collar number of the officer.")] = None,
    uses: Annotated[int, typer.Option(min=1, help="How many devices may enrol.")] = 1,
    expires: Annotated[str, typer.Option(help="Lifetime: 90m, 24h, 7d.")] = "24h",
    label: Annotated[str, typer.Option(help="A note for IT, e.g. the batch.")] = "",
    allow_reenrolment: Annotated[
        bool, typer.Option("--allow-reenrolment", help="Let already-enrolled serials re-enrol.")
    ] = False,
    qr: Annotated[Path | None, typer.Option(help="Also write the QR code (.png or .svg).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create an enrolment token and print its payload (shown this once only)."""
    body = {
        "group": group,
        "officer": officer,
        "uses": uses,
        "label": label,
        "expires_in_s": int(parse_duration(expires).total_seconds()),
        "allow_reenrolment": allow_reenrolment,
    }
    with api_errors():
        created = StaffClient.from_stored().post("/api/v1/enrolment-tokens", json=body)
    if qr is not None:
        _write_qr(created["payload"], qr)
    if json_output:
        print_json(created)
        return
    from mdm_server.enrolment.qr import payload_text
    from mdm_server.enrolment.schemas import EnrolmentPayload

    fields(
        f"Enrolment token {created['id']}",
        [
            ("group", created["group"]),
            ("officer", created["officer"]),
            ("uses", created["uses_allowed"]),
            ("expires", when(created["expires_at"])),
            ("QR code", str(qr) if qr else "(use --qr FILE.png to write one)"),
        ],
    )
    stdout.print("Payload (shown once; the server keeps only a digest):")
    print(payload_text(EnrolmentPayload(**created["payload"])))


@tokens_app.command("list")
def tokens_list(
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include expired, used-up and revoked tokens.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List enrolment tokens."""
    with api_errors():
        listing = StaffClient.from_stored().get(
            "/api/v1/enrolment-tokens", params={"include_inactive": include_inactive}
        )
    if json_output:
        print_json(listing)
        return
    if not listing["items"]:
        hint = "" if include_inactive else " (--all also shows expired, used-up and revoked ones)"
        empty(f"No usable enrolment tokens{hint}.")
        return
    table(
        "Enrolment tokens",
        ["id", "group", "officer", "used", "expires", "status", "label"],
        [
            [
                t["id"],
                t["group"],
                t["officer"],
                f"{t['uses_count']}/{t['uses_allowed']}",
                when(t["expires_at"]),
                t["status"],
                t["label"],
            ]
            for t in listing["items"]
        ],
    )


@tokens_app.command("revoke")
def tokens_revoke(token_id: str, json_output: JsonOption = False) -> None:
    """Revoke a token so no further device can enrol with it."""
    with api_errors():
        token = StaffClient.from_stored().post(
            f"/api/v1/enrolment-tokens/{segment(token_id)}/revoke"
        )
    if json_output:
        print_json(token)
    else:
        stdout.print(f"Token {token['id']} is {token['status']}.")


LOST = styled("LOST", "bold red")


def _state(device: dict[str, Any]) -> Text | str:
    """The device's state, or LOST while its officer's report stands."""
    return LOST if device.get("lost_at") else str(device["state"])


def _compliance(device: dict[str, Any], *, unevaluated: str) -> str:
    """The device's compliance in words; a retired or wiped device has none to speak of, and
    a lost one only its last known."""
    status = device["compliance"]
    if status == "not_applicable":
        return f"not applicable (the device is {device['state']})"
    if not status:
        return unevaluated
    return f"{status} (last known)" if device.get("lost_at") else str(status)


def _device_rows(devices: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            short_id(d["id"]),
            d["serial"],
            d["model"],
            d["android_version"],
            d["group"],
            (d["officer"] or {}).get("collar_number"),
            _state(d),
            _compliance(d, unevaluated="-"),
            when(d["last_seen_at"]),
        ]
        for d in devices
    ]


@devices_app.command("list")
def devices_list(
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    officer: Annotated[str | None, typer.Option(help="Only this officer (collar).")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model, e.g. SM-J530F.")] = None,
    android: Annotated[str | None, typer.Option(help="Only this Android version.")] = None,
    state: Annotated[str | None, typer.Option(help="active, retired or wiped.")] = None,
    compliance: Annotated[
        str | None,
        typer.Option(
            help="compliant, in_grace, non_compliant, incompatible, unknown or not_evaluated."
        ),
    ] = None,
    lost: Annotated[
        bool | None,
        typer.Option(
            "--lost/--not-lost", help="Only devices reported lost, or only those not lost."
        ),
    ] = None,
    last_seen_before: Annotated[
        str | None, typer.Option(help="ISO date or time (UTC unless it says its zone).")
    ] = None,
    last_seen_after: Annotated[
        str | None, typer.Option(help="ISO date or time (UTC unless it says its zone).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """List devices, newest enrolment first."""
    params = {
        "group": group,
        "officer": officer,
        "model": model,
        "android_version": android,
        "state": state,
        "compliance": compliance,
        "lost": lost,
        "limit": limit,
        "offset": offset,
        "last_seen_before": (
            parse_instant(last_seen_before, "--last-seen-before") if last_seen_before else None
        ),
        "last_seen_after": (
            parse_instant(last_seen_after, "--last-seen-after") if last_seen_after else None
        ),
    }
    with api_errors():
        page = StaffClient.from_stored().get("/api/v1/devices", params=params)
    if json_output:
        print_json(page)
        return
    if not page["items"]:
        filtered = any(
            value is not None for key, value in params.items() if key not in ("limit", "offset")
        )
        empty("No devices match." if filtered or page["total"] else "No devices enrolled yet.")
        return
    shown = f"{offset + 1}-{offset + len(page['items'])} of {page['total']}"
    table(
        f"Devices ({shown})",
        [
            "id",
            "serial",
            "model",
            "android",
            "group",
            "officer",
            "state",
            "compliance",
            "last seen",
        ],
        _device_rows(page["items"]),
    )


def _cloned(at: str | None) -> str:
    if not at:
        return "no"
    return f"a copy was found in use {when(at)}: secure side shut until re-enrolled"


@devices_app.command("show")
def devices_show(
    reference: Annotated[
        str, typer.Argument(help="Device id (or its first 8 characters) or serial.")
    ],
    json_output: JsonOption = False,
) -> None:
    """One device: identity, assignment, certificate and latest posture."""
    with api_errors():
        device = StaffClient.from_stored().get(f"/api/v1/devices/{segment(reference)}")
    if json_output:
        print_json(device)
        return
    officer = device["officer"] or {}
    by = f" by {device['lost_reported_by']}" if device.get("lost_reported_by") else ""
    lost = (
        styled(
            f"LOST: reported {when(device['lost_at'])}{by}; clear with `tabard devices found`",
            "bold red",
        )
        if device.get("lost_at")
        else "no"
    )
    fields(
        f"Device {short_id(device['id'])} ({device['id']})",
        [
            ("serial", device["serial"]),
            ("IMEI", device["imei"]),
            ("model", f"{device['manufacturer']} {device['model']}"),
            ("Android", f"{device['android_version']} (SDK {device['sdk']})"),
            ("security patch", device["security_patch"]),
            ("Knox", device["knox_version"]),
            ("warranty bit", device["warranty_bit"]),
            ("state", _state(device)),
            ("cloned", _cloned(device.get("cloned_at"))),
            ("lost", lost),
            ("compliance", _compliance(device, unevaluated="not evaluated yet")),
            ("policy version", device["policy_version"]),
            ("group", device["group"]),
            ("officer", officer.get("collar_number")),
            ("enrolled", when(device["enrolled_at"])),
            ("last seen", when(device["last_seen_at"]) or "never"),
        ],
    )
    posture = device["posture"] or {}
    if posture:
        fields("Latest posture", [(key, _short(value)) for key, value in sorted(posture.items())])
    else:
        stdout.print("No posture reported yet.")
    for cert in device["certificates"]:
        status = f"revoked {when(cert['revoked_at'])}" if cert["revoked_at"] else "valid"
        stdout.print(
            f"Certificate {cert['serial_number'][:16]}…: {status}, until {when(cert['not_after'])}"
        )


def _short(value: Any) -> str:
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return ", ".join(f"{k}: {len(v)} apps" for k, v in value.items())
    return plain(value)


@devices_app.command("assign")
def devices_assign(
    reference: Annotated[
        str, typer.Argument(help="Device id (or its first 8 characters) or serial.")
    ],
    officer: Annotated[str | None, typer.Option(help="Collar number of the new officer.")] = None,
    unassign: Annotated[bool, typer.Option("--unassign", help="Remove the officer.")] = False,
    group: Annotated[str | None, typer.Option(help="Move to this group.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Assign a device to an officer and/or a group."""
    if officer and unassign:
        fail("give --officer or --unassign, not both")
    body: dict[str, Any] = {}
    if officer or unassign:
        body["officer"] = None if unassign else officer
    if group:
        body["group"] = group
    if not body:
        fail("nothing to change: give --officer, --unassign or --group")
    with api_errors():
        device = StaffClient.from_stored().patch(
            f"/api/v1/devices/{segment(reference)}/assignment", json=body
        )
    if json_output:
        print_json(device)
    else:
        who = (device["officer"] or {}).get("collar_number") or "nobody"
        stdout.print(f"Device {device['serial']}: group {device['group']}, officer {who}.")


@devices_app.command("retire")
def devices_retire(
    reference: Annotated[
        str, typer.Argument(help="Device id (or its first 8 characters) or serial.")
    ],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Ask to retire a device. A second IT administrator approves (`tabard commands approve
    ID`); then its certificate is revoked, so it can no longer authenticate, and its container
    key is destroyed."""
    if not yes and not typer.confirm(f"Retire device {reference}? It cannot be undone."):
        raise typer.Exit(1)
    with api_errors():
        batch = StaffClient.from_stored().post(
            f"/api/v1/devices/{segment(reference)}/retire", json={"reason": reason}
        )
    if json_output:
        print_json(batch)
        return
    (command,) = batch["commands"]
    stdout.print(
        f"Retiring device {command['device_serial']} ({short_id(command['device_id'])}) is "
        f"{command['state']} (command {short_id(command['id'])})."
    )
    if command["state"] == "pending_approval":
        stdout.print(second_approver_needed(short_id(command["id"])))


@devices_app.command("found")
def devices_found(
    reference: Annotated[
        str, typer.Argument(help="Device id (or its first 8 characters) or serial.")
    ],
    json_output: JsonOption = False,
) -> None:
    """Clear a lost report, so the device's secure side may be opened again."""
    with api_errors():
        device = StaffClient.from_stored().post(f"/api/v1/devices/{segment(reference)}/found")
    if json_output:
        print_json(device)
    else:
        stdout.print(f"Device {device['serial']} is no longer reported lost.")


@devices_app.command("wipe-secure-side")
def devices_wipe_secure_side(
    reference: Annotated[
        str, typer.Argument(help="Device id (or its first 8 characters) or serial.")
    ],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Crypto-shred the device's secure side: its container key is destroyed at once, so the
    container can never be opened again, even if the device stays offline."""
    if not yes and not typer.confirm(
        f"Destroy device {reference}'s container key? Its secure-side data is lost for good."
    ):
        raise typer.Exit(1)
    with api_errors():
        wiped = StaffClient.from_stored().post(
            f"/api/v1/devices/{segment(reference)}/secure-side/wipe", json={"reason": reason}
        )
    if json_output:
        print_json(wiped)
    elif wiped["destroyed"] is None:
        stdout.print(f"Device {short_id(wiped['device_id'])}: {wiped['detail']}.")
    else:
        stdout.print(
            f"Device {short_id(wiped['device_id'])}: container key "
            f"{short_id(wiped['destroyed']['id'])} destroyed "
            f"at {when(wiped['destroyed']['destroyed_at'])}."
        )
