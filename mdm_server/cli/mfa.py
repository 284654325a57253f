"""`tabard mfa ...`: your second factor (an authenticator app), over the API; and the code
step of `tabard login`."""

from __future__ import annotations

import sys

import typer

from mdm_server.cli.accounts import CodeOption, JsonOption, api_errors, read_code
from mdm_server.cli.qr import show_qr
from mdm_server.cli.session import StaffClient, StoredSession
from tabard.output import fail, fields, print_json, stdout, table, when

mfa_app = typer.Typer(
    help="Your second factors: an authenticator app, with recovery codes, and your passkeys.",
    no_args_is_help=True,
)


@mfa_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Whether you have a second factor, and how many recovery codes are left."""
    with api_errors():
        state = StaffClient.from_stored().get("/api/v1/auth/mfa")
    if json_output:
        print_json(state)
        return
    fields(
        "Second factor",
        [
            ("set up", "yes" if state["enrolled"] else "no"),
            ("required for your role", "yes" if state["required"] else "no"),
            ("set up at", when(state["confirmed_at"]) or "not set up"),
            ("last used", when(state["last_used_at"]) or "never"),
            ("recovery codes left", state["recovery_codes_left"]),
        ],
    )


@mfa_app.command("enrol")
def enrol(code: CodeOption = None, json_output: JsonOption = False) -> None:
    """Set up an authenticator app: scan the QR code (or type the secret), then type the code
    it shows. With --json, prints the secret and its otpauth:// URI and stops: finish with
    `tabard mfa confirm`."""
    client = StaffClient.from_stored()
    with api_errors():
        started = client.post("/api/v1/auth/mfa/enrol")
    if json_output:
        print_json(started)
        return
    stdout.print("Scan this with your authenticator app:")
    show_qr(started["otpauth_uri"])
    stdout.print(f"or add it by hand: [bold]{started['secret']}[/]", highlight=False)
    stdout.print(f"({started['otpauth_uri']})", highlight=False, soft_wrap=True)
    if not code and not sys.stdin.isatty():
        code = sys.stdin.readline().strip() or None
        if code is None:
            stdout.print("When the app shows a code, run `tabard mfa confirm --code CODE`.")
            return
    _confirm(client, read_code(code), json_output=False)


@mfa_app.command("confirm")
def confirm(code: CodeOption = None, json_output: JsonOption = False) -> None:
    """Finish setting up with the code the app shows now; prints the ten recovery codes,
    shown only this once."""
    _confirm(StaffClient.from_stored(), read_code(code), json_output=json_output)


def _confirm(client: StaffClient, code: str, *, json_output: bool) -> None:
    with api_errors():
        done = client.post("/api/v1/auth/mfa/enrol/confirm", json={"code": code})
    StoredSession.from_token_pair(client.session.server, done["tokens"]).save()
    if json_output:
        print_json({"recovery_codes": done["recovery_codes"]})
        return
    stdout.print("[green]Second factor set up.[/] Sign-ins now ask for a code from the app.")
    stdout.print("Recovery codes (each works once; keep them somewhere safe, shown only now):")
    for recovery in done["recovery_codes"]:
        stdout.print(f"  {recovery}", highlight=False)


@mfa_app.command("remove")
def remove(code: CodeOption = None) -> None:
    """Remove your own second factor, with a current code or a recovery code."""
    client = StaffClient.from_stored()
    given = read_code(code)
    with api_errors():
        client.post("/api/v1/auth/mfa/remove", json={"code": given})
    stdout.print("Second factor removed; sign-ins no longer ask for a code.")


@mfa_app.command("step-up")
def step_up(code: CodeOption = None) -> None:
    """Use your second factor now, for the actions that need it within the last minutes
    (approving a full wipe or retire, applying a policy to the whole fleet, exporting an
    evidential bundle, removing someone's factor)."""
    client = StaffClient.from_stored()
    given = read_code(code)
    with api_errors():
        expires_at = client.step_up(given)
    stdout.print(f"Stepped up until the access token expires at {when(expires_at)}.")


@mfa_app.command("passkeys")
def list_passkeys(json_output: JsonOption = False) -> None:
    """Your passkeys (added at the console's Passkeys page), oldest first."""
    with api_errors():
        mine = StaffClient.from_stored().get("/api/v1/auth/passkeys")
    if json_output:
        print_json(mine)
        return
    if not mine:
        stdout.print("You have no passkeys. Add one at the console's Passkeys page.")
        return
    table(
        "Your passkeys",
        ["name", "added", "last used"],
        [[p["name"], when(p["created_at"]), when(p["last_used_at"]) or "not yet"] for p in mine],
    )


@mfa_app.command("remove-passkey")
def remove_passkey(name: str = typer.Argument(..., help="The passkey's name.")) -> None:
    """Remove one of your passkeys by its name. Needs a step-up first (tabard mfa step-up)."""
    client = StaffClient.from_stored()
    with api_errors():
        mine = client.get("/api/v1/auth/passkeys")
        found = [p for p in mine if p["name"] == name]
        if not found:
            names = ", ".join(p["name"] for p in mine) or "none"
            fail(f"you have no passkey called {name}; yours: {names}")
        client.delete(f"/api/v1/auth/passkeys/{found[0]['id']}")
    stdout.print(f"Passkey {name} removed; it can no longer sign in to your account.")
