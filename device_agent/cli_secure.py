"""`tabard agent --state DIR secure enter|leave`: the one button from the command line, through
the running agent (the same socket the one-button UI uses)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer

from device_agent.control import AgentAnswerError, call
from device_agent.errors import AgentError
from device_agent.state import AgentState
from tabard.output import fail, fields, print_json, stderr, stdout, when

secure_app = typer.Typer(help="Enter and leave the secure side.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def agent_state(ctx: typer.Context) -> AgentState:
    """The state directory `tabard agent --state DIR` named; without one, say how to give it.
    (Optional on the group, so that `tabard agent COMMAND --help` works without it.)"""
    state = ctx.obj
    if not isinstance(state, AgentState):
        command = " ".join(ctx.command_path.split()[2:]) or "COMMAND"
        fail(
            f"say which agent: tabard agent --state DIR {command} ... "
            "(DIR is the agent's state directory, e.g. ./agent)"
        )
    return state


def agent_call(ctx: typer.Context, op: str, **arguments: Any) -> dict[str, Any]:
    state = agent_state(ctx)
    try:
        return call(state, op, **arguments)
    except AgentAnswerError as exc:
        fail(f"{exc} ({exc.code})")
    except AgentError as exc:
        fail(str(exc))


def _read_pins(pin_stdin: bool) -> tuple[str, str | None]:
    """The PIN and, if given, the new PIN: two lines of standard input, or prompts."""
    if not pin_stdin:
        return getpass.getpass("PIN: "), None
    lines = sys.stdin.read().splitlines()
    if not lines or not lines[0]:
        fail("expected the PIN on standard input")
    return lines[0], (lines[1] if len(lines) > 1 and lines[1] else None)


def _show_session(status: dict[str, Any]) -> None:
    fields(
        "Secure side open",
        [
            ("officer", status["officer"]),
            ("online", status["online"]),
            ("until", when(status["session_expires_at"])),
            ("offline use until", when(status["offline_until"])),
        ],
    )


@secure_app.command("enter")
def secure_enter(
    ctx: typer.Context,
    officer: Annotated[str, typer.Option(help="Your collar number.")],
    pin_stdin: Annotated[
        bool,
        typer.Option(
            "--pin-stdin",
            help="Read the PIN from standard input; a second line is the new PIN when one is "
            "required.",
        ),
    ] = False,
    acknowledge: Annotated[
        str | None,
        typer.Option(help="Acknowledge this version of the appropriate-use policy."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Enter the secure side (the one button)."""
    state = agent_state(ctx)
    pin, new_pin = _read_pins(pin_stdin)
    while True:
        try:
            status = call(
                state, "enter", collar=officer, pin=pin, new_pin=new_pin, acknowledge=acknowledge
            )
            break
        except AgentAnswerError as exc:
            if exc.code == "pin_change_required" and new_pin is None and not pin_stdin:
                new_pin = getpass.getpass("Choose a new PIN (6 to 12 digits): ")
                continue
            if exc.code == "acknowledgement_required" and isinstance(exc.detail, dict):
                version = str(exc.detail.get("policy_text_version"))
                stderr.print(
                    f"[bold]Appropriate-use policy {version}[/]\n{exc.detail.get('text', '')}"
                )
                if not pin_stdin and typer.confirm("Do you acknowledge this policy?"):
                    acknowledge = version
                    continue
                fail(f"acknowledge the policy above to enter: add --acknowledge {version}")
            fail(f"{exc} ({exc.code})")
        except AgentError as exc:
            fail(str(exc))
    if json_output:
        print_json(status)
    else:
        _show_session(status)


@secure_app.command("leave")
def secure_leave(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Leave the secure side: it locks and the container key leaves memory."""
    status = agent_call(ctx, "leave")
    if json_output:
        print_json(status)
    else:
        stdout.print("Secure side locked.")
