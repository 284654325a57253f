"""`tabard agent --state DIR ...`: the device agent's commands."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from device_agent.cli_secure import agent_state
from device_agent.errors import AgentError
from device_agent.payload import EnrolmentPayload
from device_agent.platform.factory import SPEC_HELP, open_platform
from device_agent.state import AgentState
from tabard.output import describe_detail, fail, fields, print_json, readable, stdout, when

T = TypeVar("T")

MAX_PAYLOAD_CHARS = 64 * 1024
agent_app = typer.Typer(help="The on-device agent.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@agent_app.callback()
def agent_options(
    ctx: typer.Context,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="The agent's state directory (keys, enrolment); every command needs it."
        ),
    ] = None,
) -> None:
    ctx.obj = AgentState(state) if state is not None else None


@contextmanager
def agent_errors() -> Iterator[None]:
    from device_agent.errors import ServerError

    try:
        yield
    except ServerError as exc:
        fail(f"{describe_detail(exc.detail)} ({exc.status} {exc.code})")
    except AgentError as exc:
        fail(str(exc))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _read_payload(path: Path) -> str:
    try:
        if str(path) == "-":
            text = sys.stdin.read(MAX_PAYLOAD_CHARS + 1)
        else:
            with path.open(encoding="utf-8", errors="replace") as handle:
                text = handle.read(MAX_PAYLOAD_CHARS + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    if len(text) > MAX_PAYLOAD_CHARS:
        fail(f"{path} is too large to be an enrolment payload")
    return text


@agent_app.command("enrol")
def enrol(
    ctx: typer.Context,
    payload: Annotated[
        Path | None,
        typer.Option(
            help="The enrolment payload: the QR code's JSON, or the file `tabard tokens create "
            "--json` wrote ('-' for standard input)."
        ),
    ] = None,
    server: Annotated[str | None, typer.Option(help="Server URL, instead of --payload.")] = None,
    token: Annotated[str | None, typer.Option(help="Enrolment token, with --server.")] = None,
    ca_sha256: Annotated[
        str | None, typer.Option(help="CA fingerprint to pin, with --server.")
    ] = None,
    platform: Annotated[str, typer.Option(help=f"The device: {SPEC_HELP}.")] = "virtual:SM-J530F",
    json_output: JsonOption = False,
) -> None:
    """Enrol this device from a QR payload, or from --server and --token."""
    from device_agent.enrolment import enrol as enrol_device

    state = agent_state(ctx)
    with agent_errors():
        if payload is not None:
            parsed = EnrolmentPayload.parse(_read_payload(payload))
        elif server and token:
            parsed = EnrolmentPayload.of(server, token, ca_sha256)
        else:
            fail("give --payload FILE, or --server URL and --token TOKEN")
        record = run(
            enrol_device(parsed, state=state, platform=open_platform(platform, state.directory))
        )
    if json_output:
        print_json(asdict(record))
        return
    if parsed.ca_sha256 is None:
        stdout.print(f"[yellow]note:[/] CA trusted on first use: {record.ca_sha256}")
    stdout.print(f"Enrolled as device [bold]{record.device_id}[/] with {record.server}.")


@agent_app.command("checkin")
def checkin(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Send one posture report to the server now."""
    from device_agent.checkin import check_in

    state = agent_state(ctx)
    with agent_errors():
        answer = run(check_in(state=state))
    if json_output:
        print_json(answer)
        return
    stdout.print(
        f"Checked in. {len(answer['commands'])} command(s) pending; "
        f"next check-in in {answer['checkin_interval_s']} s."
    )


@agent_app.command("status")
def status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """What this agent is enrolled as, and, if it is running, the secure side's state."""
    from device_agent.control import call
    from device_agent.daemon import SOCKET_FILE

    state = agent_state(ctx)
    with agent_errors():
        record = state.enrolment()
        running = call(state, "status") if state.path(SOCKET_FILE).exists() else None
    report = {"enrolled": True, **asdict(record), "running": running is not None, **(running or {})}
    if json_output:
        print_json(report)
        return
    fields("Agent", readable(_in_words(report)))


def _in_words(report: dict[str, Any]) -> dict[str, Any]:
    """The status's nested parts, and its times, as people read them."""
    shown = dict(report)
    for name in ("last_lock", "last_refusal"):
        part = report.get(name)
        if isinstance(part, dict):
            shown[name] = f"{part.get('reason') or part.get('code')} at {when(part.get('at'))}"
    standing = report.get("standing")
    if isinstance(standing, dict):
        grace = standing.get("grace_until")
        problems = "; ".join(standing.get("problems") or [])
        shown["standing"] = " ".join(
            part
            for part in (
                str(standing.get("status") or "not evaluated"),
                f"until {when(grace)}" if grace else "",
                f"({problems})" if problems else "",
            )
            if part
        )
    for name in ("last_checkin", "unreachable_since"):
        if report.get(name):
            shown[name] = when(report[name])
    return shown


@agent_app.command("run")
def run_agent(ctx: typer.Context) -> None:
    """Run the agent: check-ins, the outbox, and the secure side on a Unix socket in the state
    directory. Stops on SIGTERM or Ctrl-C."""
    from device_agent.daemon import run as run_daemon

    state = agent_state(ctx)
    # The agent's own logging: it never imports the server (DESIGN.md's packages).
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with agent_errors():
        run_daemon(state)


@agent_app.command("ui")
def ui(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(help="The loopback port to serve the screen on; 0 for any free one.")
    ] = 0,
    json_output: JsonOption = False,
) -> None:
    """Serve the officer's screen from the running agent on 127.0.0.1, with a fresh launch
    secret: prints the launch URL for the WebView (also written, mode 0600, to screen.json in
    the state directory). The previous launch stops working."""
    from device_agent.cli_secure import agent_call

    if not 0 <= port <= 65535:
        raise typer.BadParameter("a port is 0 to 65535 (0 for any free one)", param_hint="--port")
    launched = agent_call(ctx, "ui", port=port)
    if json_output:
        print_json(launched)
        return
    stdout.print(f"The screen is served on 127.0.0.1:{launched['port']}. Open it with:")
    stdout.print(launched["url"], soft_wrap=True, highlight=False)


def _add_secure_commands() -> None:
    from device_agent import (
        cli_cases,  # noqa: F401 (adds its commands to `report`)
        cli_reports,  # noqa: F401 (adds its commands to `report`)
        cli_safeguarding,  # noqa: F401 (adds `report safeguarding`)
    )
    from device_agent.cli_secure import secure_app
    from device_agent.cli_transactions import justify, report_app, search_app

    agent_app.add_typer(secure_app, name="secure")
    agent_app.add_typer(search_app, name="search")
    agent_app.add_typer(report_app, name="report")
    agent_app.command("justify")(justify)


_add_secure_commands()
