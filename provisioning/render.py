"""How `tabard provision` shows a plan and a run's results to a person."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from provisioning.runner import DeviceResult
from tabard.output import stdout, table

STATUS_STYLE = {
    "provisioned": "green",
    "planned": "cyan",
    "refused": "yellow",
    "failed": "red",
    "in_progress": "red",
    "pending": "dim",
    "skipped": "green",
}


def print_plan(result: DeviceResult) -> None:
    """One device's plan: mode and why, refusals, then the numbered steps."""
    plan = result.plan
    if plan is None:
        stdout.print(f"[red]{result.key}: {result.message}[/]", highlight=False)
        return
    stdout.print(
        f"[bold]{result.key}[/]: {plan['model']}, Android {plan['android_version']}, "
        f"serial {plan['serial']}",
        highlight=False,
    )
    stdout.print(f"Mode: [bold]{plan['mode']}[/] - {plan['reason']}", highlight=False)
    for refusal in plan["refusals"]:
        stdout.print(
            f"[yellow]Refused ({refusal['code']}):[/] {refusal['reason']}", highlight=False
        )
    for step in plan["steps"]:
        detail = ""
        if step["params"].get("packages"):
            detail = ": " + ", ".join(step["params"]["packages"])
        elif step["params"].get("settings"):
            detail = ": " + ", ".join(
                f"{ns} {key}={value}" for ns, key, value, _ in step["params"]["settings"]
            )
        stdout.print(f"  {step['number']:>2}. {step['title']}{detail}", highlight=False)
    for note in plan["notes"]:
        stdout.print(f"[dim]Note: {note}[/]", highlight=False)
    if not plan["refusals"]:
        stdout.print("[dim]Dry run: nothing on the device was changed.[/]")


def print_results(
    results: list[DeviceResult], summary: dict[str, int], *, dry_run: bool, report: Path | None
) -> None:
    """One row per device; the steps done only for a real run (a plan has done none)."""
    columns = ["device", "serial", "model", "mode", "status", *([] if dry_run else ["steps"])]
    table(
        "Provisioning plan" if dry_run else "Provisioning",
        [*columns, "message"],
        [
            [
                result.key,
                result.serial or "",
                " ".join(filter(None, (result.model, result.android_version))),
                result.mode or "",
                _status(result),
                *([] if dry_run else [_steps(result)]),
                result.message,
            ]
            for result in results
        ],
        keep_whole=["device", "serial", "mode", "status"],
    )
    counts = ", ".join(
        f"{count} {status}" for status, count in summary.items() if status != "devices"
    )
    stdout.print(f"{summary['devices']} device(s): {counts}", highlight=False)
    if report is not None:
        stdout.print(f"Report: {report} and {report.with_suffix('.csv')}", highlight=False)


def _steps(result: DeviceResult) -> str:
    total = len(result.plan["steps"]) if result.plan else 0
    changed = sum(1 for step in result.steps if step.outcome == "done")
    return f"{len(result.steps)}/{total} ({changed} changed)" if total else ""


def _status(result: DeviceResult) -> Text:
    """A device's status in its colour, and whether a failure left it part-provisioned."""
    status = Text(result.status, style=STATUS_STYLE.get(result.status, "white"))
    if result.half_provisioned:
        status.append(" (part-provisioned)", style="red")
    return status
