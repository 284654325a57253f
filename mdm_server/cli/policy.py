"""`tabard policy ...`: write, check, apply and explain policies.

`validate` and `schema` work offline, with no server and no login: a policy can be checked
in an editor's terminal or a review pipeline before anyone applies it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table
from rich.text import Text

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import ApiError, StaffClient, segment
from mdm_server.policies import source
from mdm_server.policies.source import MAX_POLICY_BYTES
from policies import PolicyError, json_schema, parse_policy
from policies.layering import flatten
from tabard.output import (
    describe_detail,
    empty,
    fail,
    fields,
    plain,
    print_json,
    short_id,
    stderr,
    stdout,
    styled,
    table,
    when,
)

policy_app = typer.Typer(help="Policies and compliance.", no_args_is_help=True)

STATUS_STYLE = {
    "compliant": "green",
    "incompatible": "cyan",
    "in_grace": "yellow",
    "non_compliant": "bold red",
    "unknown": "magenta",
    "not_evaluated": "dim",
}
TargetOption = Annotated[
    str, typer.Option("--to", help="fleet, group:NAME or device:ID (id, id prefix or serial).")
]


def read_policy_file(path: Path) -> tuple[Any, str]:
    """The parsed YAML or JSON (JSON is YAML) and the text, or exit 1 saying what is wrong."""
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            fail(f"{path}: larger than {MAX_POLICY_BYTES // 1024} KiB; is it a policy?")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")
    try:
        return source.load(text), text
    except source.PolicySourceError as exc:
        where = f":{exc.line}:{exc.column}" if exc.line is not None else ""
        fail(f"{path}{where}: {exc.problem}")


def _parse_target(target: str) -> tuple[str, str | None]:
    scope, _, name = target.partition(":")
    if scope == "fleet" and not name:
        return "fleet", None
    if scope in ("group", "device") and name:
        return scope, name
    raise typer.BadParameter("use fleet, group:NAME or device:ID", param_hint="--to")


def _assignment_path(scope: str, name: str | None) -> str:
    return (
        "/api/v1/policy-assignments/fleet"
        if name is None
        else f"/api/v1/policy-assignments/{scope}/{segment(name)}"
    )


@policy_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="A policy document, YAML or JSON.")],
    json_output: JsonOption = False,
) -> None:
    """Check a policy document (offline). Exit 1 with every problem, located."""
    data, _ = read_policy_file(file)
    try:
        document = parse_policy(data)
    except PolicyError as error:
        if json_output:
            print_json({"file": str(file), "valid": False, "errors": error.errors})
        else:
            for line in error.errors:
                stderr.print(f"{file}: {line}", highlight=False, soft_wrap=True)
            stderr.print(f"[bold red]{len(error.errors)} problem(s).[/]")
        raise typer.Exit(1) from None
    settings = len(flatten(document))
    if json_output:
        print_json({"file": str(file), "valid": True, "name": document.name, "settings": settings})
    else:
        stdout.print(
            f"{file}: valid policy [bold]{document.name}[/] ({settings} settings).", soft_wrap=True
        )


@policy_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of a policy document (for editors and review tools)."""
    print(json.dumps(json_schema(), indent=2))


@policy_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="A policy document, YAML or JSON.")],
    to: TargetOption,
    comment: Annotated[str, typer.Option(help="Why this change, kept with the version.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Store the document as its policy's next version and apply the policy to a target."""
    scope, name = _parse_target(to)
    data, text = read_policy_file(file)
    try:
        document = parse_policy(data)
    except PolicyError as error:
        for line in error.errors:
            stderr.print(f"{file}: {line}", highlight=False, soft_wrap=True)
        fail(f"{len(error.errors)} problem(s); nothing was stored or applied")
    client = StaffClient.from_stored()
    body = {"document": data, "source": text, "comment": comment}
    with api_errors():
        stored = client.put(f"/api/v1/policies/{segment(document.name)}", json=body)
    try:
        assigned = client.put(_assignment_path(scope, name), json={"policy": document.name})
    except ApiError as refused:
        change = "stored as" if stored["created"] else "unchanged at"
        fail(
            f"policy {stored['name']} {change} version {stored['version']} but not applied to "
            f"{to}: {describe_detail(refused.detail)} ({refused.code}); running this again "
            "applies it without storing another version"
        )
    if json_output:
        print_json({"stored": stored, "assignment": assigned})
        return
    change = "stored as" if stored["created"] else "unchanged at"
    stdout.print(f"Policy [bold]{stored['name']}[/] {change} version {stored['version']}.")
    target = (
        assigned["scope"]
        if assigned["target"] is None
        else f"{assigned['scope']}:{assigned['target']}"
    )
    stdout.print(f"Applied to {target}; devices pick it up at their next check-in.")


@policy_app.command("unassign")
def unassign(
    to: Annotated[str, typer.Option("--from", help="fleet, group:NAME or device:ID.")],
) -> None:
    """Stop applying whatever policy is applied to a target."""
    scope, name = _parse_target(to)
    with api_errors():
        StaffClient.from_stored().delete(_assignment_path(scope, name))
    stdout.print(f"No policy is applied to {to} any more.")


@policy_app.command("list")
def list_policies(json_output: JsonOption = False) -> None:
    """Policies, their current versions and where they are applied."""
    with api_errors():
        listing = StaffClient.from_stored().get("/api/v1/policies")
    if json_output:
        print_json(listing)
        return
    if not listing:
        empty("No policies yet; `tabard policy apply FILE --to fleet` stores and applies one.")
        return
    table(
        "Policies",
        ["name", "version", "updated", "applied to"],
        [
            [
                p["name"],
                p["current_version"],
                when(p["updated_at"]),
                ", ".join(p["assignments"]) or "-",
            ]
            for p in listing
        ],
        keep_whole=("name",),
    )


@policy_app.command("versions")
def versions(name: str, json_output: JsonOption = False) -> None:
    """Every version of a policy, newest first."""
    with api_errors():
        listing = StaffClient.from_stored().get(f"/api/v1/policies/{segment(name)}/versions")
    if json_output:
        print_json(listing)
        return
    table(
        f"Policy {name}",
        ["version", "current", "created", "by", "comment", "digest"],
        [
            [
                v["version"],
                "yes" if v["current"] else "",
                when(v["created_at"]),
                v["created_by"],
                v["comment"],
                v["digest"][:12],
            ]
            for v in listing
        ],
    )


@policy_app.command("show")
def show(
    name: str,
    version: Annotated[
        int | None, typer.Option(min=1, help="A version (default: current).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """A policy version as its author wrote it."""
    path = (
        f"/api/v1/policies/{segment(name)}"
        if version is None
        else f"/api/v1/policies/{segment(name)}/versions/{version}"
    )
    with api_errors():
        shown = StaffClient.from_stored().get(path)
    if json_output:
        print_json(shown)
        return
    stderr.print(f"# {shown['name']} version {shown['version']}, {when(shown['created_at'])}")
    print(shown["source"] or yaml.safe_dump(shown["document"], sort_keys=False), end="")


def _styled(status: str | None) -> Text:
    label = status or "not_evaluated"
    return styled(label, STATUS_STYLE.get(label, ""))


def _value(value: Any, *, width: int = 60) -> str:
    text = plain(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@policy_app.command("explain")
def explain(
    device: Annotated[str, typer.Argument(help="Device id (or its first 8 characters) or serial.")],
    json_output: JsonOption = False,
) -> None:
    """A device's policy: its layers, each setting with the layer that set it, and its
    findings and actions due now."""
    with api_errors():
        shown = StaffClient.from_stored().get(f"/api/v1/devices/{segment(device)}/policy")
    if json_output:
        print_json(shown)
        return
    layers = " → ".join(
        f"{layer['layer']} ({layer['policy']} v{layer['version']})" for layer in shown["layers"]
    )
    fields(
        f"Device {shown['serial']} ({short_id(shown['device_id'])})",
        [
            ("group", shown["group"]),
            ("layers", layers or "none: no policy applies"),
            ("policy version", shown["policy_version"] or "not yet served"),
            ("device holds", shown["device_policy_version"]),
            ("compliance now", _styled(shown["status"])),
            (
                "last stored",
                Text.assemble(_styled(shown["stored_status"]), f" at {when(shown['stored_at'])}")
                if shown["stored_at"]
                else "never",
            ),
            ("posture from", when(shown["posture_received_at"]) or "no check-in yet"),
        ],
    )
    findings = [f for f in shown["findings"] if f["status"] != "compliant"]
    if findings:
        grid = Table(
            title="Findings (compliant ones omitted)", title_justify="left", header_style="bold"
        )
        for column in ("rule", "status", "severity", "expected", "actual", "deadline", "note"):
            grid.add_column(column, overflow="fold")
        for f in findings:
            note = f["compensating_control"] or f["message"]
            grid.add_row(
                f["rule"],
                _styled(f["status"]),
                f["severity"],
                _value(f["expected"], width=30),
                _value(f["actual"], width=30),
                when(f["grace_deadline"]),
                note or "",
            )
        stdout.print(grid)
    else:
        passed = len(shown["findings"])
        stdout.print(
            f"[green]All {passed} checked settings comply.[/]"
            if passed
            else "[dim]Nothing to check.[/]"
        )
    if shown["actions"]:
        table(
            "Enforcement due now",
            ["action", "severity", "since", "because of"],
            [
                [a["action"], a["severity"], when(a["due_at"]), ", ".join(a["rules"])]
                for a in shown["actions"]
            ],
        )
    table(
        "Resolved settings",
        ["setting", "value", "from", "how"],
        [
            [s["path"], _value(s["value"]), ", ".join(s["layers"]), s["how"]]
            for s in shown["settings"]
        ],
        keep_whole=("setting",),
    )


def _bar(count: int, total: int, width: int = 30) -> str:
    filled = round(width * count / total) if total else 0
    return "█" * filled + "·" * (width - filled)


@policy_app.command("summary")
def summary(json_output: JsonOption = False) -> None:
    """The fleet's compliance at a glance."""
    with api_errors():
        shown = StaffClient.from_stored().get("/api/v1/compliance/summary")
    if json_output:
        print_json(shown)
        return
    total = shown["devices"]
    if not total:
        empty("No active devices.")
        return
    order = ["compliant", "incompatible", "in_grace", "non_compliant", "unknown", "not_evaluated"]
    grid = Table(
        title=f"Compliance of {total} active devices", title_justify="left", header_style="bold"
    )
    for column in ("status", "devices", "share"):
        grid.add_column(column)
    for status in order:
        count = shown["by_status"].get(status, 0)
        if count:
            style = STATUS_STYLE[status]
            grid.add_row(
                _styled(status),
                str(count),
                f"[{style}]{_bar(count, total)}[/] {100 * count / total:.0f}%",
            )
    stdout.print(grid)
    table(
        "By group",
        ["group", "devices", *order],
        [
            [g["group"], g["devices"], *(g["by_status"].get(s, "") for s in order)]
            for g in shown["by_group"]
        ],
    )
    if shown["failing_rules"]:
        table(
            "Rules failing most",
            ["rule", "devices"],
            [[r["rule"], r["devices"]] for r in shown["failing_rules"][:10]],
        )
    if shown["incompatible_rules"]:
        table(
            "Settings some devices cannot enforce",
            ["setting", "devices"],
            [[r["rule"], r["devices"]] for r in shown["incompatible_rules"][:10]],
        )
    if shown["actions_due"]:
        fields("Enforcement actions waiting", sorted(shown["actions_due"].items()))


@policy_app.command("evaluate")
def evaluate_now(json_output: JsonOption = False) -> None:
    """Evaluate now every device whose compliance may have changed (after a policy change,
    say), rather than waiting for the scheduler."""
    with api_errors():
        report = StaffClient.from_stored().post("/api/v1/compliance/evaluate")
    if json_output:
        print_json(report)
    else:
        stdout.print(
            f"Evaluated {report['devices']} device(s); {report['changed']} changed status."
        )
