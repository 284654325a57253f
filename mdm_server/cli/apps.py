"""`tabard apps ...`: the app catalogue over the API: upload APKs, read the catalogue, and
decide signer changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from mdm_server.auth.roles import Role, role_name
from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.releases import release_commands
from mdm_server.cli.session import StaffClient, segment
from tabard.output import empty, fields, print_json, stderr, stdout, table, when

APK_TYPE = "application/vnd.android.package-archive"
CHUNK = 1 << 16

apps_app = typer.Typer(
    help=f"The app catalogue: upload APKs, read versions and signers, change a signer "
    f"({role_name(Role.it_admin).many}; {role_name(Role.auditor).many} may read).",
    no_args_is_help=True,
)
signer_app = typer.Typer(
    help="Decide a signer change: one IT administrator accepts the new certificate, a "
    "different one approves it (each with a fresh second factor); or refuse it.",
    no_args_is_help=True,
)
apps_app.add_typer(signer_app, name="signer")
apps_app.registered_commands += release_commands.registered_commands

PackageArgument = Annotated[
    str, typer.Argument(help="The app's package name, e.g. uk.police.optik.")
]


def _chunks(path: Path, progress: Progress | None) -> Iterator[bytes]:
    task = progress.add_task("Uploading", total=path.stat().st_size) if progress else None
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
            yield chunk


def _signer(signer: dict[str, Any]) -> str:
    return f"{signer['short']} ({signer['subject']})"


STATES = {"held": "held for a signer change", "refused": "refused (signer change refused)"}


def _state(version: dict[str, Any]) -> str:
    state = str(version["state"])
    return STATES.get(state, state)


@apps_app.command("upload")
def apps_upload(
    apk: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The APK file.")
    ],
    label: Annotated[
        str | None, typer.Option(help="A name for a new app (default: its package name).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Upload an APK. The first version of an app pins its signer; a version signed by
    another key is held until two IT administrators accept and approve the new signer."""
    client = StaffClient.from_stored()
    size = apk.stat().st_size
    progress = (
        None
        if json_output
        else Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=stderr,
            transient=True,
        )
    )
    with api_errors():
        if progress is None:
            result = _send(client, apk, size, label, None)
        else:
            with progress:
                result = _send(client, apk, size, label, progress)
    if json_output:
        print_json(result)
        return
    version = result["version"]
    said = "Uploaded" if result["created"] else "Already in the catalogue (the same bytes)"
    stdout.print(
        f"{said}: {result['package']} version {version['version_code']} "
        f"({version['version_name']})."
    )
    fields(
        result["label"],
        [
            ("package", result["package"]),
            ("version", f"{version['version_code']} ({version['version_name']})"),
            ("signer", _signer(result["signer"])),
            (
                "pinned",
                "yes: this first upload pinned the signer"
                if result["pinned_signer"]
                else "no: signed by the key already pinned",
            ),
            ("sha256", version["sha256"]),
            ("size", f"{version['size']} bytes"),
        ],
    )


def _send(
    client: StaffClient, apk: Path, size: int, label: str | None, progress: Progress | None
) -> Any:
    return client.post(
        "/api/v1/apps",
        content=_chunks(apk, progress),
        params={"label": label},
        headers={"content-type": APK_TYPE, "content-length": str(size)},
        timeout=None,
    )


@apps_app.command("list")
def apps_list(json_output: JsonOption = False) -> None:
    """The catalogue: every app with its newest available version and pinned signer."""
    with api_errors():
        apps = StaffClient.from_stored().get("/api/v1/apps")
    if json_output:
        print_json(apps)
        return
    if not apps:
        empty("No apps in the catalogue yet: tabard apps upload FILE.apk")
        return
    table(
        f"Apps ({len(apps)})",
        ["package", "name", "latest", "versions", "signer", "signer change"],
        [
            [
                app["package"],
                app["label"],
                f"{app['latest_version_code']} ({app['latest_version_name']})"
                if app["latest_version_code"] is not None
                else "none available",
                app["versions"],
                app["signer"]["short"],
                "waiting" if app["signer_change_pending"] else "",
            ]
            for app in apps
        ],
        keep_whole=("signer",),
    )


@apps_app.command("show")
def apps_show(package: PackageArgument, json_output: JsonOption = False) -> None:
    """One app: its pinned signer, its versions and any signer change."""
    with api_errors():
        app = StaffClient.from_stored().get(f"/api/v1/apps/{segment(package)}")
    if json_output:
        print_json(app)
        return
    signer = app["signer"]
    fields(
        f"{app['label']} ({app['package']})",
        [
            ("signer", f"{signer['sha256']}"),
            ("subject", signer["subject"]),
            ("valid until", when(signer["not_after"])),
            ("added", f"{when(app['created_at'])} by {app['created_by']}"),
        ],
    )
    table(
        "Versions",
        ["version", "name", "min SDK", "size", "sha256", "state", "uploaded", "by"],
        [
            [
                v["version_code"],
                v["version_name"],
                v["min_sdk"],
                v["size"],
                v["sha256"][:16],
                _state(v),
                when(v["uploaded_at"]),
                v["uploaded_by"],
            ]
            for v in app["version_list"]
        ],
        keep_whole=("sha256",),
    )
    for change in app["signer_changes"]:
        if change["state"] != "pending":
            continue
        _show_change(change)


def _show_change(change: dict[str, Any]) -> None:
    package = change["package"]
    if change["accepted_by"]:
        step = (
            f"accepted by {change['accepted_by']} at {when(change['accepted_at'])}; a different "
            f"IT administrator approves it: tabard apps signer approve {package}"
        )
    else:
        step = f"not yet accepted: tabard apps signer accept {package}"
    fields(
        "Signer change waiting",
        [
            ("new signer", change["new_signer"]["sha256"]),
            ("subject", change["new_signer"]["subject"]),
            ("for version", change["version_code"]),
            ("asked", f"{when(change['requested_at'])} by {change['requested_by']}"),
            ("next", step),
        ],
    )


def _decide(verb: str, package: str, json_output: bool) -> None:
    with api_errors():
        change = StaffClient.from_stored().post(f"/api/v1/apps/{segment(package)}/signer/{verb}")
    if json_output:
        print_json(change)
        return
    new = change["new_signer"]
    if verb == "accept":
        stdout.print(
            f"Accepted the new signer of {package}, {_signer(new)}. A different IT "
            f"administrator must approve it: tabard apps signer approve {package}"
        )
    elif verb == "approve":
        stdout.print(
            f"Approved: {package} is now pinned to {_signer(new)}; version "
            f"{change['version_code']} is available."
        )
    else:
        stdout.print(
            f"Refused: {package} stays pinned to its signer; version {change['version_code']} "
            "is refused."
        )


@signer_app.command("accept")
def signer_accept(package: PackageArgument, json_output: JsonOption = False) -> None:
    """Accept the new signer a held version came with (the first of two administrators)."""
    _decide("accept", package, json_output)


@signer_app.command("approve")
def signer_approve(package: PackageArgument, json_output: JsonOption = False) -> None:
    """Approve an accepted signer change (not one you accepted yourself): the pin changes."""
    _decide("approve", package, json_output)


@signer_app.command("refuse")
def signer_refuse(package: PackageArgument, json_output: JsonOption = False) -> None:
    """Refuse a waiting signer change: the pin stays and the held version is refused."""
    _decide("refuse", package, json_output)
