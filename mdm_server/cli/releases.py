"""`tabard apps release|releases|progress|widen|halt|resume|rollback`: putting a catalogue
version out to the fleet stage by stage, over the API."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.text import Text

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient, segment
from tabard.output import empty, fail, fields, print_json, short_id, styled, table, when

release_commands = typer.Typer()

STAGE = re.compile(
    r"^(?P<name>[^=]{1,64})=(?:(?P<kind>devices|groups|divisions):(?P<values>[^@]+)|fleet)"
    r"(?:@(?P<percent>\d{1,3})%?)?$"
)
STATE_STYLE = {
    "running": "cyan",
    "halted": "yellow",
    "finished": "green",
    "rolled_back": "magenta",
    "installed": "green",
    "pending": "cyan",
    "failed": "red",
    "cancelled": "dim",
}
ReleaseId = Annotated[
    str, typer.Argument(help="The release id, or its first 8 characters as `releases` shows.")
]


def parse_stage(text: str) -> dict[str, Any]:
    """`pilot=devices:J5A,J5B`, `north=groups:north@50`, `all=fleet` as the API's stage."""
    found = STAGE.match(text.strip())
    if found is None:
        fail(
            f"--stage '{text}': write it as NAME=devices:A,B, NAME=groups:G,H, "
            "NAME=divisions:D or NAME=fleet, with @PERCENT after it for a share (pilot=fleet@5)"
        )
    kind = found["kind"]
    target: dict[str, Any] = (
        {"fleet": True} if kind is None else {kind: [v.strip() for v in found["values"].split(",")]}
    )
    percent = int(found["percent"]) if found["percent"] else 100
    if not 1 <= percent <= 100:
        fail(f"--stage '{text}': a stage's share is 1 to 100 percent of its devices")
    return {"name": found["name"].strip(), "target": target, "percent": percent}


def _cell(value: str) -> Text:
    return styled(value, STATE_STYLE.get(value, "white"))


def _show(release: dict[str, Any]) -> None:
    previous = release["previous_version_code"]
    fields(
        f"Release {short_id(release['id'])} of {release['package']}",
        [
            ("version", str(release["version_code"])),
            ("replaces", str(previous) if previous is not None else "nothing (a first release)"),
            ("side", release["profile"]),
            ("state", _cell(release["state"])),
            ("halts when", f"more than {release['failure_threshold_pct']:g}% of a stage fail"),
            (
                "widens",
                f"every {release['widen_every_minutes']} minutes"
                if release["widen_every_minutes"]
                else "by hand (tabard apps widen)",
            ),
            ("started", f"{when(release['created_at'])} by {release['created_by']}"),
            (
                "halted",
                f"{when(release['halted_at'])} by {release['halted_by']}: {release['halt_reason']}"
                if release["halted_at"]
                else "",
            ),
            ("rolled back", when(release["rolled_back_at"])),
        ],
    )
    table(
        "Stages",
        ["#", "stage", "devices from", "share", "state", "installed", "pending", "failed"],
        [
            [
                str(stage["index"] + 1),
                stage["name"],
                stage["target"],
                f"{stage['percent']}%",
                stage["state"],
                styled(str(stage["installed"]), "green"),
                styled(str(stage["pending"]), "cyan"),
                styled(str(stage["failed"]), "red" if stage["failed"] else "white"),
            ]
            for stage in release["stages"]
        ],
    )
    failed = [
        (stage["name"], device)
        for stage in release["stages"]
        for device in stage["devices"]
        if device["state"] == "failed" or device["rollback_reason"]
    ]
    if failed:
        table(
            "Devices that did not take it",
            ["stage", "device", "install", "why", "rollback"],
            [
                [
                    name,
                    device["serial"],
                    _cell(device["state"]),
                    device["reason"] or "",
                    device["rollback_reason"] or device["rollback"] or "",
                ]
                for name, device in failed
            ],
        )


def _act(release_id: str, action: str, body: dict[str, Any] | None, json_output: bool) -> None:
    with api_errors():
        release = StaffClient.from_stored().post(
            f"/api/v1/releases/{segment(release_id)}/{action}", json=body
        )
    if json_output:
        print_json(release)
    else:
        _show(release)


@release_commands.command("release")
def apps_release(
    package: Annotated[str, typer.Argument(help="The app's package name.")],
    version_code: Annotated[int, typer.Argument(metavar="VERSION", help="Its versionCode.")],
    stage: Annotated[
        list[str],
        typer.Option(
            help="A stage, in order; repeatable: NAME=devices:A,B | NAME=groups:G | "
            "NAME=divisions:D | NAME=fleet, with @PERCENT for a share (half=fleet@50)."
        ),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(help="Halt when more than this % of a stage's installs fail."),
    ] = None,
    widen_every: Annotated[
        int | None,
        typer.Option(help="Minutes between stages; left out, widen by hand."),
    ] = None,
    profile: Annotated[str, typer.Option(help="work (the secure side) or personal.")] = "work",
    json_output: JsonOption = False,
) -> None:
    """Put a catalogue version out, stage by stage: the first stage is sent it now."""
    body: dict[str, Any] = {
        "package": package,
        "version_code": version_code,
        "stages": [parse_stage(s) for s in stage],
        "profile": profile,
    }
    if threshold is not None:
        body["failure_threshold_pct"] = threshold
    if widen_every is not None:
        body["widen_every_minutes"] = widen_every
    with api_errors():
        release = StaffClient.from_stored().post("/api/v1/releases", json=body)
    if json_output:
        print_json(release)
        return
    _show(release)


@release_commands.command("releases")
def apps_releases(
    package: Annotated[str | None, typer.Argument(help="Only this app's releases.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Releases, newest first."""
    with api_errors():
        found = StaffClient.from_stored().get(
            "/api/v1/releases", params={"package": package} if package else None
        )
    if json_output:
        print_json(found)
        return
    if not found:
        empty("No releases.")
        return
    table(
        f"Releases ({len(found)})",
        ["id", "app", "version", "state", "stage", "started", "by"],
        [
            [
                short_id(r["id"]),
                r["package"],
                str(r["version_code"]),
                _cell(r["state"]),
                str(r["stage"] + 1),
                when(r["created_at"]),
                r["created_by"],
            ]
            for r in found
        ],
    )


@release_commands.command("progress")
def apps_progress(release_id: ReleaseId, json_output: JsonOption = False) -> None:
    """A release's stages: how many devices installed it, wait for it, or failed, and why."""
    with api_errors():
        release = StaffClient.from_stored().get(f"/api/v1/releases/{segment(release_id)}")
    if json_output:
        print_json(release)
    else:
        _show(release)


@release_commands.command("widen")
def apps_widen(release_id: ReleaseId, json_output: JsonOption = False) -> None:
    """Move a release on to its next stage now."""
    _act(release_id, "widen", None, json_output)


@release_commands.command("halt")
def apps_halt(
    release_id: ReleaseId,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    json_output: JsonOption = False,
) -> None:
    """Stop a release: installs not yet sent are withdrawn."""
    _act(release_id, "halt", {"reason": reason}, json_output)


@release_commands.command("resume")
def apps_resume(release_id: ReleaseId, json_output: JsonOption = False) -> None:
    """Carry on a halted release."""
    _act(release_id, "resume", None, json_output)


@release_commands.command("rollback")
def apps_rollback(release_id: ReleaseId, json_output: JsonOption = False) -> None:
    """Stop a release and send the previous version back to the devices that took it."""
    _act(release_id, "rollback", None, json_output)
