"""`tabard login|logout` and `tabard users ...`: staff accounts, over the API."""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import typer

from mdm_server.auth.roles import Role, role_name
from mdm_server.cli.qr import show_qr
from mdm_server.cli.session import (
    ApiError,
    StaffClient,
    StoredSession,
    raise_for_error,
    segment,
)
from tabard.output import (
    describe_detail,
    fail,
    fields,
    print_json,
    read_secret_stdin,
    stderr,
    stdout,
    table,
    when,
)

users_app = typer.Typer(
    help=f"Staff accounts ({role_name(Role.it_admin).many}).", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CodeOption = Annotated[
    str | None,
    typer.Option(
        "--code",
        help="A code from your authenticator app (or a recovery code). Without it the code is "
        "asked for, or read from the next line of standard input when that is not a terminal.",
    ),
]


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn an API refusal into a one-line error and exit status 1."""
    try:
        yield
    except ApiError as exc:
        fail(f"{describe_detail(exc.detail)} ({exc.code})")


def _ask_new_password() -> str:
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat new password: "):
        fail("the passwords do not match")
    return first


def read_code(given: str | None, *, from_stdin: bool = False) -> str:
    """The code given with --code; else the next line of standard input when it is not a
    terminal (or `from_stdin`); else asked for."""
    if given and given.strip():
        return given.strip()
    if from_stdin or not sys.stdin.isatty():
        code = sys.stdin.readline().strip()
        if not code:
            fail(
                "a code from your authenticator app is needed: give it with --code or on "
                "the next line of standard input"
            )
        return code
    return str(typer.prompt("Code from your authenticator app")).strip()


def login(
    server: Annotated[str, typer.Option(help="The server's URL, e.g. http://127.0.0.1:8000.")],
    username: Annotated[
        str | None, typer.Option(help="Your username (a Tabard account of your own).")
    ] = None,
    sso: Annotated[
        bool,
        typer.Option(
            "--sso",
            help="Sign in through the force's sign-in instead: open the address shown on any "
            "device (or scan its QR code), sign in there and type the code shown.",
        ),
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from standard input; if a change is required, read the new "
            "password from the next line.",
        ),
    ] = False,
    code: CodeOption = None,
    json_output: JsonOption = False,
) -> None:
    """Log in and keep the session in TABARD_CONFIG_DIR (default ~/.config/tabard). An account
    with a second factor also needs a code: with --password-stdin and no --code, the line after
    the password. With --sso, no password: the force's sign-in (the device authorization
    grant, RFC 8628, brokered by the server)."""
    server = server.rstrip("/")
    if sso:
        if username is not None or password_stdin:
            fail("--sso signs in at the force's sign-in: leave out --username and --password-stdin")
        _signed_in(server, sso_login(server, json_output=json_output), json_output)
        return
    if username is None:
        fail("give --username (your Tabard account), or --sso to use the force's sign-in")
    password = read_secret_stdin("password") if password_stdin else getpass.getpass("Password: ")
    with httpx.Client(base_url=server, timeout=30.0) as http, api_errors():
        try:
            pair = raise_for_error(
                http.post("/api/v1/auth/login", json={"username": username, "password": password})
            )
        except httpx.TransportError as exc:
            fail(f"cannot reach {server}: {exc}")
        if pair.get("second_factor_required"):
            if "totp" not in pair.get("methods", ["totp"]):
                fail(
                    "this account's second factor is a passkey, which the command line cannot "
                    "use: sign in at the console, or set up an authenticator app there too"
                )
            answer = read_code(code, from_stdin=password_stdin)
            pair = raise_for_error(
                http.post(
                    "/api/v1/auth/login/code",
                    json={"challenge_token": pair["challenge_token"], "code": answer},
                )
            )
        if pair["password_change_required"]:
            if password_stdin:
                new_password = sys.stdin.readline().rstrip("\r\n")
                if not new_password:
                    fail("a password change is required: give the new password on the next line")
            else:
                stdout.print("You must choose a new password.")
                new_password = _ask_new_password()
            pair = raise_for_error(
                http.post(
                    "/api/v1/auth/password",
                    json={"current_password": password, "new_password": new_password},
                    headers={"authorization": f"Bearer {pair['access_token']}"},
                )
            )
    _signed_in(server, pair, json_output)


def _signed_in(server: str, pair: dict[str, Any], json_output: bool) -> None:
    StoredSession.from_token_pair(server, pair).save()
    enrol = bool(pair.get("second_factor_enrolment_required"))
    if json_output:
        print_json(
            {
                "server": server,
                "user": pair["user"],
                "expires_at": pair["expires_at"],
                "second_factor_enrolment_required": enrol,
            }
        )
        return
    user = pair["user"]
    stdout.print(f"Logged in to {server} as [bold]{user['username']}[/] ({user['role']}).")
    if enrol:
        stdout.print(
            f"[yellow]As {role_name(user['role']).a} you must set up a second factor "
            "before anything else:[/] run `tabard mfa enrol` and scan its QR code with an "
            "authenticator app."
        )


def pause(seconds: float) -> None:
    """How `tabard login --sso` waits between two questions to the server."""
    time.sleep(seconds)


def sso_login(server: str, *, json_output: bool) -> dict[str, Any]:
    """The device authorization grant through the server: show where to sign in and the code
    to type there, then ask the server every few seconds until the person has."""
    with httpx.Client(base_url=server, timeout=30.0) as http, api_errors():
        try:
            started = raise_for_error(http.post("/api/v1/auth/sso/device"))
        except httpx.TransportError as exc:
            fail(f"cannot reach {server}: {exc}")
        show = stderr if json_output else stdout
        show.print(
            f"To sign in, open [bold]{started['verification_uri']}[/] on any device and type "
            f"the code [bold]{started['user_code']}[/]",
            highlight=False,
        )
        complete = started.get("verification_uri_complete")
        if complete and not json_output:
            stdout.print("or scan this with your phone:")
            show_qr(complete)
        show.print(f"Waiting for you to sign in (until {when(started['expires_at'])})...")
        interval = float(started["interval"])
        while True:
            answer = http.post(
                "/api/v1/auth/sso/device/token", json={"poll_token": started["poll_token"]}
            )
            if answer.status_code != 202:
                pair: dict[str, Any] = raise_for_error(answer)
                return pair
            interval = max(interval, float(answer.json().get("interval", interval)))
            pause(interval)


def logout() -> None:
    """End the stored session on the server and forget it here."""
    session = StoredSession.load()
    try:
        with httpx.Client(base_url=session.server, timeout=10.0) as http:
            http.post("/api/v1/auth/logout", json={"refresh_token": session.refresh_token})
    except httpx.TransportError:
        stdout.print("[yellow]server unreachable; forgetting the session locally[/]")
    StoredSession.forget()
    stdout.print("Logged out.")


def _user_rows(users: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            u["username"],
            u["role"],
            u["collar_number"],
            u["division"],
            "disabled"
            if u["disabled"]
            else ("sign-in throttled" if u["sign_in_throttled_until"] else "active"),
            when(u["last_login_at"]) or "never",
        ]
        for u in users
    ]


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[
        str,
        typer.Option(help="it_admin, auditor, supervisor, officer, missing_persons or mash."),
    ],
    collar: Annotated[str | None, typer.Option(help="Collar number (officers).")] = None,
    division: Annotated[str | None, typer.Option(help="Division (officers, supervisors).")] = None,
    display_name: Annotated[str, typer.Option(help="Full name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Initial password from standard input.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a staff account. Without --password-stdin a one-time password is printed."""
    body: dict[str, Any] = {
        "username": username,
        "role": role,
        "display_name": display_name,
        "collar_number": collar,
        "division": division,
    }
    if password_stdin:
        body["password"] = read_secret_stdin("password")
    with api_errors():
        user = StaffClient.from_stored().post("/api/v1/users", json=body)
    if json_output:
        print_json(user)
        return
    stdout.print(f"Created {user['role']} [bold]{user['username']}[/].")
    if user.get("one_time_password"):
        stdout.print(f"One-time password: [bold]{user['one_time_password']}[/]")


@users_app.command("list")
def users_list(
    role: Annotated[str | None, typer.Option(help="Only this role.")] = None,
    division: Annotated[str | None, typer.Option(help="Only this division.")] = None,
    include_disabled: Annotated[bool, typer.Option("--all", help="Include disabled.")] = False,
    json_output: JsonOption = False,
) -> None:
    """List staff accounts."""
    params = {"role": role, "division": division, "include_disabled": include_disabled}
    with api_errors():
        page = StaffClient.from_stored().get("/api/v1/users", params=params)
    if json_output:
        print_json(page)
        return
    table(
        f"Staff ({page['total']})",
        ["username", "role", "collar", "division", "status", "last login"],
        _user_rows(page["items"]),
    )


def _account_action(username: str, action: str, json_output: bool) -> None:
    with api_errors():
        user = StaffClient.from_stored().post(f"/api/v1/users/{segment(username)}/{action}")
    if json_output:
        print_json(user)
    else:
        done = {"disable": "disabled", "enable": "enabled", "unlock": "failed sign-ins forgiven"}[
            action
        ]
        fields(
            f"{username}: {done}",
            [
                ("role", user["role"]),
                ("disabled", user["disabled"]),
                (
                    "failing addresses wait until",
                    when(user["sign_in_throttled_until"]) or "none wait",
                ),
            ],
        )


@users_app.command("disable")
def users_disable(username: str, json_output: JsonOption = False) -> None:
    """Disable an account and end its sessions."""
    _account_action(username, "disable", json_output)


@users_app.command("enable")
def users_enable(username: str, json_output: JsonOption = False) -> None:
    """Re-enable a disabled account."""
    _account_action(username, "enable", json_output)


@users_app.command("unlock")
def users_unlock(username: str, json_output: JsonOption = False) -> None:
    """Forgive an account's failed sign-ins, so no address must wait to try again."""
    _account_action(username, "unlock", json_output)


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="The account's username.")],
    json_output: JsonOption = False,
) -> None:
    """Give an account a temporary password, shown this once: its sessions end, a login
    lockout is cleared, and the user must choose their own password at next login."""
    with api_errors():
        user = StaffClient.from_stored().post(f"/api/v1/users/{segment(username)}/reset-password")
    if json_output:
        print_json(user)
        return
    stdout.print(
        f"Password of [bold]{user['username']}[/] reset; their sessions have ended and they "
        "must choose a new password at next login."
    )
    stdout.print(
        f"Temporary password (shown once): [bold]{user['one_time_password']}[/]", highlight=False
    )


def _ask_new_pin() -> str:
    first = getpass.getpass("Officer's new PIN: ")
    if first != getpass.getpass("Repeat the PIN: "):
        fail("the PINs do not match")
    return first


def _pin_status(collar: str, status: dict[str, Any], json_output: bool, title: str) -> None:
    if json_output:
        print_json(status)
        return
    fields(
        f"{collar}: {title}",
        [
            ("must change at next entry", status["must_change"]),
            ("wrong attempts", status["failed_attempts"]),
            ("locked until", when(status["locked_until"])),
            ("set", when(status["set_at"])),
        ],
    )


@users_app.command("set-pin")
def users_set_pin(
    collar: Annotated[str, typer.Argument(help="The officer's collar number.")],
    pin_stdin: Annotated[
        bool, typer.Option("--pin-stdin", help="Read the PIN from standard input.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Set an officer's secure-side PIN (6 to 12 digits); they must change it at first entry."""
    pin = read_secret_stdin("PIN") if pin_stdin else _ask_new_pin()
    with api_errors():
        status = StaffClient.from_stored().put(
            f"/api/v1/officers/{segment(collar)}/pin", json={"pin": pin}
        )
    _pin_status(collar, status, json_output, "PIN set; the officer must change it at first entry")


@users_app.command("clear-pin-lockout")
def users_clear_pin_lockout(
    collar: Annotated[str, typer.Argument(help="The officer's collar number.")],
    json_output: JsonOption = False,
) -> None:
    """Clear an officer's secure-side PIN lockout (audited)."""
    with api_errors():
        status = StaffClient.from_stored().post(
            f"/api/v1/officers/{segment(collar)}/pin/clear-lockout"
        )
    _pin_status(collar, status, json_output, "PIN lockout cleared")
