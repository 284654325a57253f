"""The server as a provisioning run uses it, through IT's CLI session: the check before any
device is touched, the audit trail, and the fleet the enrolment steps read and assign.

Devices run in parallel threads but share one session, so requests go one at a time: two
threads refreshing the same refresh token at once would look like a stolen token reused,
and end the login."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import typer

from device_agent.identity import fingerprint
from device_agent.payload import EnrolmentPayload
from provisioning.batch import Row
from provisioning.fleet import FleetDevice, FleetError, TokenUses
from tabard.output import describe_detail

if TYPE_CHECKING:
    from mdm_server.cli.session import StaffClient


class Server:
    """IT's session, shared by every thread of the run."""

    def __init__(self, client: StaffClient) -> None:
        self._client = client
        self._lock = threading.Lock()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON; `FleetError` saying what went wrong if there is none."""
        from mdm_server.cli.session import ApiError

        with self._lock:
            try:
                return self._client.request(method, path, **kwargs)
            except ApiError as exc:
                raise FleetError(f"the server refused: {describe_detail(exc.detail)}") from exc
            except typer.Exit:  # the session could not reach the server or refresh itself
                raise FleetError(f"could not reach {self._client.session.server}") from None

    def download(self, path: str) -> bytes:
        """A file's bytes (an APK from the catalogue); `FleetError` if there are none."""
        from mdm_server.cli.session import ApiError

        with self._lock:
            try:
                return self._client.download(path)
            except ApiError as exc:
                raise FleetError(f"the server refused: {describe_detail(exc.detail)}") from exc
            except typer.Exit:
                raise FleetError(f"could not reach {self._client.session.server}") from None

    def post_events(self, events: list[dict[str, Any]]) -> None:
        self.call("POST", "/api/v1/provisioning/events", json={"events": events})


class StaffFleet:
    """The fleet as IT sees it: devices by serial, and their assignment."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def device(self, serial: str) -> FleetDevice | None:
        from mdm_server.cli.session import ApiError

        try:
            found = self._server.call("GET", f"/api/v1/devices/{serial}")
        except FleetError as exc:
            if isinstance(exc.__cause__, ApiError) and exc.__cause__.status == 404:
                return None
            raise
        if found["state"] != "active":
            return None
        officer = found.get("officer") or {}
        return FleetDevice(
            id=str(found["id"]),
            officer=officer.get("collar_number"),
            group=str(found["group"]),
            last_seen_at=found.get("last_seen_at"),
        )

    def assign(self, device_id: str, *, officer: str | None, group: str | None) -> None:
        change = {key: value for key, value in (("officer", officer), ("group", group)) if value}
        self._server.call("PATCH", f"/api/v1/devices/{device_id}/assignment", json=change)


@dataclass
class Preflight:
    """What the server says of the run before it starts: `problems`, everything in the
    manifest it would refuse, each said once; and the enrolment token's uses, which are
    shared out among the devices found not yet enrolled (a device enrolled already needs
    none, so whether the token suffices is known only device by device)."""

    problems: list[str] = field(default_factory=list)
    tokens: TokenUses = field(default_factory=lambda: TokenUses(None))


def check_run(server: Server, rows: list[Row], *, enrolment: EnrolmentPayload | None) -> Preflight:
    """The run's officers, groups and enrolment token as the server sees them, before any
    device is touched."""
    officers = sorted({row.officer for row in rows if row.officer})
    groups = sorted({row.group for row in rows if row.group})
    body: dict[str, Any] = {"officers": officers, "groups": groups}
    if enrolment is not None:
        body["token"] = enrolment.token
    try:
        answer = server.call("POST", "/api/v1/provisioning/checks", json=body)
    except FleetError as exc:
        return Preflight(problems=[f"could not check the run with the server: {exc}"])
    preflight = Preflight()
    for problem in answer["problems"]:
        if problem["field"] == "token":
            preflight.tokens = TokenUses(None, f"--payload: {problem['problem']}")
            continue
        where = _where(rows, problem["field"], problem["value"])
        preflight.problems.append(f"{where}{problem['problem']}")
    if answer.get("token_uses_left") is not None:
        preflight.tokens = TokenUses(int(answer["token_uses_left"]))
    return preflight


def _where(rows: list[Row], column: str, value: str | None) -> str:
    """`line 3, line 7: ` for a manifest's rows; `--officer: ` for one device."""
    lines = sorted(row.line for row in rows if getattr(row, column) == value and row.line)
    if not lines:
        return f"--{column}: "
    return ", ".join(f"line {line}" for line in lines) + ": "


def check_enrolment_server(enrolment: EnrolmentPayload) -> str | None:
    """Why this host's agents could not enrol with the payload's server, or None if they
    can: it answers, and its device CA is the one the payload pins."""
    try:
        response = httpx.get(f"{enrolment.server}/api/v1/ca", timeout=10.0)
        certificate = str(response.json()["certificate"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return f"--payload: the agents could not reach {enrolment.server} ({exc})"
    if enrolment.ca_sha256 and fingerprint(certificate) != enrolment.ca_sha256:
        return (
            f"--payload: the device CA at {enrolment.server} is not the one the payload pins: "
            "is the payload from this server?"
        )
    return None
