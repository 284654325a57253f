"""Every route an officer can reach, in a world where professional standards have taken an
interest in them (DESIGN.md "Who must not see", docs/appropriate-use.md "What an officer sees").

The routes are enumerated from the app: the API and console routes whose access rule admits
the officer role or anyone (`StaffAccess`, `ConsoleAccess.like`, `Public`), the device routes
the officer's device calls for them, and the app's documents and static files. Each has a probe
below, and a route without one fails `test_every_route_an_officer_can_reach_is_probed`: a new
officer route cannot go unchecked. No probe's answer may name professional standards' activity
(flag ids, auditors, their notes, their events and actions, the words flag, review and audit
search); and every read answers the same before and after professional standards act, so
nothing shows in counts, totals, paging cursors or gaps either."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from starlette.routing import Mount, Route

from mdm_server.auth import repository as auth_repository
from mdm_server.auth.models import StaffUser
from mdm_server.auth.roles import Role
from mdm_server.console.pages.officer import OfficerPage
from mdm_server.db import Database
from mdm_server.deps import DeviceAccess, Officer, Public, declared_routes
from mdm_server.scheduler.jobs import review_appropriate_use
from tests.console.conftest import CHALLENGE, Browser, checkpoint
from tests.factories.commands import open_envelope, poll, sign_receipt, submit_receipt
from tests.factories.passkeys import SoftPasskey
from tests.factories.secure import NEW_PIN, SESSIONS
from tests.factories.staff import PASSWORD, bearer, context_of, create_staff
from tests.server.test_appropriate_use import SAM
from tests.server.test_audit_search import person, vehicle
from tests.server.test_device_events import event, upload
from tests.server.test_officer_view import justification_path, officer_works_a_shift
from tests.server.test_officer_view import scene as scene  # the fixture: every transaction sampled
from tests.server.test_secure import Scene
from tests.support import audit_events

READ = "read"  # the officer's own data: says nothing, and the same before and after
DOCUMENT = "document"  # the same for everyone: the same before and after
LOG = "log"  # the public log's latest checkpoint: its size counts the whole force's events
WRITE = "write"  # changes something: says nothing
LAST = "last"  # signs the officer out or changes their password: after everything else

WORDS = (
    re.compile(r"flag", re.IGNORECASE),
    re.compile(r"review", re.IGNORECASE),
    re.compile(r"audit[ ._-]?search", re.IGNORECASE),
)
RANDOM_VALUES = re.compile(
    r'("(?:access_token|refresh_token|challenge_token|secret|otpauth_uri)": ?)"[^"]*"'
    r'|("recovery_codes": ?)\[[^\]]*\]'
    r"|(set-cookie: [^=;]+=)[^;\n]*"
    r'|(name="csrf_token" value=|"X-CSRF-Token": )"[^"]*"',
    re.IGNORECASE,
)
CSRF = re.compile(r'(name="csrf_token" value=|"X-CSRF-Token": )"[^"]*"')
NOTES = ("Searched own record twice; refer to line manager.", "Line manager spoke to them.")
AUDITOR = "ps-hastings"


@dataclass
class World:
    """One officer mid-shift on their device, signed in to the API and the console."""

    app: FastAPI
    scene: Scene
    api: dict[str, str]
    console: Browser
    token: str
    checkpoint_size: int
    auditor: StaffUser | None = None
    flag_ids: list[str] = field(default_factory=list)
    flag_seq: int = 0
    markers: set[str] = field(default_factory=set)
    usage_cursor: str = ""

    @property
    def client(self) -> TestClient:
        return self.scene.client

    @property
    def officer(self) -> StaffUser:
        return self.scene.officer

    def device_get(self, path: str, *, secure: bool = False, **params: Any) -> Response:
        headers = self.scene.device.auth("GET", path, now=self.scene.clock())
        if secure:
            headers["X-Tabard-Session"] = self.token
        return self.client.get(path, params=params, headers=headers)

    def device_post(self, path: str, body: Any, *, secure: bool = False) -> Response:
        headers = self.scene.device.auth("POST", path, now=self.scene.clock())
        if secure:
            headers["X-Tabard-Session"] = self.token
        return self.client.post(path, json=body, headers=headers)


@pytest.fixture
def world(app: FastAPI, scene: Scene) -> World:
    token = officer_works_a_shift(scene)
    uploaded = upload(
        scene.client,
        scene.device,
        [event(1, detail={"collar_number": scene.officer.collar_number, "online": True})],
        scene.clock(),
    )
    assert uploaded.status_code == 200, uploaded.text
    console = Browser(TestClient(app, follow_redirects=False))
    assert console.sign_in(scene.officer.username).status_code == 303
    first = scene.client.get(
        "/api/v1/me/usage", params={"limit": 2}, headers=bearer(app, scene.officer)
    )
    return World(
        app=app,
        scene=scene,
        api=bearer(app, scene.officer),
        console=console,
        token=token,
        checkpoint_size=checkpoint(app),
        usage_cursor=str(first.json()["next_before"]),
    )


def professional_standards_act(world: World, database: Database) -> None:
    """Everything professional standards do about the officer: load their own record, flag
    their search of it (the nightly review), read, note, escalate and dismiss the flag; search
    the log for them, read the events found, export the search and an evidence bundle, read
    their justifications; and the same through the console."""
    app, client, collar = world.app, world.client, world.officer.collar_number
    auditor = create_staff(app, role="auditor", username=AUDITOR)
    headers = bearer(app, auditor)
    before = {event.event_id for event in audit_events(database)}
    directory = {"officers": {collar: {"own": [SAM]}}}
    assert client.put("/api/v1/audit/directory", json=directory, headers=headers).is_success
    review_appropriate_use(context_of(app), world.scene.clock())
    flags = client.get("/api/v1/audit/flags", params={"status": "all"}, headers=headers).json()
    world.flag_ids = [str(flag["id"]) for flag in flags["items"]]
    assert world.flag_ids, "the nightly review raised no flag"
    flag = f"/api/v1/audit/flags/{world.flag_ids[0]}"
    steps = [
        client.get(flag, headers=headers),
        client.post(f"{flag}/notes", json={"note": NOTES[0]}, headers=headers),
        client.post(
            f"{flag}/review", json={"decision": "escalated", "note": NOTES[0]}, headers=headers
        ),
        client.post(
            f"{flag}/review", json={"decision": "dismissed", "note": NOTES[1]}, headers=headers
        ),
        client.get("/api/v1/audit/justifications", params={"officer": collar}, headers=headers),
        client.get("/api/v1/audit/search/export", params={"officer": collar}, headers=headers),
    ]
    found = client.get("/api/v1/audit/search", params={"officer": collar}, headers=headers)
    steps.append(found)
    steps.extend(
        client.get(f"/api/v1/audit/events/{found_event['seq']}", headers=headers)
        for found_event in found.json()["events"]
    )
    now = world.scene.clock()
    window = {
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }
    steps.append(
        client.get("/api/v1/audit/export", params={**window, "officer": collar}, headers=headers)
    )
    assert all(step.is_success for step in steps), [s.text for s in steps if not s.is_success]
    standards = Browser(TestClient(app, follow_redirects=False))
    assert standards.sign_in(AUDITOR).status_code == 303
    for page in (
        "/console/flags",
        f"/console/flags/{world.flag_ids[0]}",
        f"/console/audit?officer={collar}",
    ):
        assert standards.get(page).status_code == 200, page
    world.auditor = auditor
    theirs = [
        e
        for e in audit_events(database)
        if e.event_id not in before
        and (e.actor_id == str(auditor.id) or e.action.startswith("appropriate_use.flag"))
    ]
    (raised, *_) = [e for e in theirs if e.action == "appropriate_use.flag_raised"]
    world.flag_seq = raised.seq
    world.markers = {
        *world.flag_ids,
        AUDITOR,
        str(auditor.id),
        *NOTES,
        *(str(e.event_id) for e in theirs),
        *(e.action for e in theirs),
    }


# --- the probes: how an officer (or their device) calls each route ------------------------


def _api(world: World, method: str, path: str, **kwargs: Any) -> Response:
    return world.client.request(method, path, headers=world.api, **kwargs)


def usage_pages(world: World) -> list[Response]:
    answers = [_api(world, "GET", "/api/v1/me/usage")]
    params: dict[str, Any] = {"limit": 2}
    while True:
        answers.append(_api(world, "GET", "/api/v1/me/usage", params=params))
        cursor = answers[-1].json()["next_before"]
        if cursor is None:
            return answers
        params["before"] = cursor


def enter_again(world: World) -> list[Response]:
    opened = world.scene.enter(pin=NEW_PIN)
    if opened.status_code == 201:
        world.token = str(opened.json()["session_token"])
    return [opened]


def transact(world: World) -> list[Response]:
    """A search of their own record again: the rules add it to the dismissed flag and reopen
    it, in the same unit of work as the search."""
    answers = [
        world.scene.transact(world.token, person(SAM["surname"], SAM["forename"])),
        world.scene.transact(world.token, vehicle("XY99 ZZZ")),
    ]
    assert all(answer.status_code == 200 for answer in answers), answers[-1].text
    return answers


def justify(world: World) -> list[Response]:
    pending = world.device_get("/api/v1/device/justifications", secure=True).json()["items"]
    return [
        world.device_post(
            justification_path(item["id"]), {"answer": "Stopped on the A40 for speed."}, secure=True
        )
        for item in pending[:1]
    ]


def end_session(world: World) -> list[Response]:
    opened = world.scene.enter(pin=NEW_PIN)
    world.token = str(opened.json()["session_token"])
    path = f"{SESSIONS}/{opened.json()['session_id']}/end"
    return [opened, world.device_post(path, {"reason": "leave"})]


def receipt(world: World) -> list[Response]:
    answers = [poll(world.client, world.scene.device, now=world.scene.clock())]
    envelopes = answers[0].json()["commands"]
    assert envelopes, "the lost report queued no command"
    device_id = world.scene.device.device_id
    claims = open_envelope(world.client, envelopes[0], device_id=device_id, now=world.scene.clock())
    signed = sign_receipt(
        world.scene.device, envelopes[0], command_id=claims["command_id"], now=world.scene.clock()
    )
    answers.append(
        submit_receipt(
            world.client, world.scene.device, claims["command_id"], signed, now=world.scene.clock()
        )
    )
    return answers


def auth_session(world: World) -> list[Response]:
    login = world.client.post(
        "/api/v1/auth/login", json={"username": world.officer.username, "password": PASSWORD}
    )
    refreshed = world.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    out = world.client.post(
        "/api/v1/auth/logout", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    return [login, refreshed, out]


def second_factor(world: World) -> list[Response]:
    """The officer sets up an authenticator app, signs in with it, steps up and removes it."""
    enrol = _api(world, "POST", "/api/v1/auth/mfa/enrol")
    totp = pyotp.TOTP(enrol.json()["secret"])
    now = world.scene.clock()
    qr = _api(world, "GET", "/api/v1/auth/mfa/enrol/qr.svg")
    confirm = _api(world, "POST", "/api/v1/auth/mfa/enrol/confirm", json={"code": totp.at(now)})
    recovery = confirm.json()["recovery_codes"]
    status = _api(world, "GET", "/api/v1/auth/mfa")
    login = world.client.post(
        "/api/v1/auth/login", json={"username": world.officer.username, "password": PASSWORD}
    )
    coded = world.client.post(
        "/api/v1/auth/login/code",
        json={"challenge_token": login.json()["challenge_token"], "code": recovery[0]},
    )
    step_up = _api(world, "POST", "/api/v1/auth/step-up", json={"code": recovery[1]})
    remove = _api(world, "POST", "/api/v1/auth/mfa/remove", json={"code": recovery[2]})
    return [enrol, qr, confirm, status, login, coded, step_up, remove]


def console_sign_in(world: World) -> list[Response]:
    fresh = Browser(TestClient(world.app, follow_redirects=False))
    return [fresh.client.get("/console/login"), fresh.sign_in(world.officer.username)]


def console_code(world: World) -> list[Response]:
    """The console's code page answered with a challenge that is not one: refused in words."""
    fresh = Browser(TestClient(world.app, follow_redirects=False))
    fresh.get("/console/login")
    return [fresh.post("/console/login/code", {"challenge_token": "not-one", "code": "000000"})]


def passkeys_api(world: World) -> list[Response]:
    """The officer registers a passkey, signs in and steps up with it, lists and removes it."""
    key = SoftPasskey()
    listed = _api(world, "GET", "/api/v1/auth/passkeys")
    options = _api(world, "POST", "/api/v1/auth/passkeys/enrol/options").json()
    added = _api(
        world,
        "POST",
        "/api/v1/auth/passkeys",
        json={
            "ceremony_id": options["ceremony_id"],
            "name": "Work phone",
            "credential": key.create(options["public_key"]),
        },
    )
    login = world.client.post(
        "/api/v1/auth/login", json={"username": world.officer.username, "password": PASSWORD}
    )
    challenge = login.json()["challenge_token"]
    asked = world.client.post(
        "/api/v1/auth/login/passkey/options", json={"challenge_token": challenge}
    )
    signed_in = world.client.post(
        "/api/v1/auth/login/passkey",
        json={
            "challenge_token": challenge,
            "ceremony_id": asked.json()["ceremony_id"],
            "credential": key.get(asked.json()["public_key"]),
        },
    )
    step = _api(world, "POST", "/api/v1/auth/step-up/passkey/options")
    stepped = _api(
        world,
        "POST",
        "/api/v1/auth/step-up/passkey",
        json={
            "ceremony_id": step.json()["ceremony_id"],
            "credential": key.get(step.json()["public_key"]),
        },
    )
    fresh = {"Authorization": f"Bearer {stepped.json()['access_token']}"}
    mine = _api(world, "GET", "/api/v1/auth/passkeys").json()
    removed = world.client.delete(f"/api/v1/auth/passkeys/{mine[0]['id']}", headers=fresh)
    return [listed, added, login, asked, signed_in, step, stepped, removed]


def passkeys_console(world: World) -> list[Response]:
    """The same in the console: add a passkey, sign in with it, confirm it is them (with the
    passkey and with a code that is wrong), remove it."""
    key = SoftPasskey()
    page = world.console.get("/console/passkeys")

    def post_json(path: str, body: dict[str, Any]) -> Response:
        headers = {"X-CSRF-Token": world.console.csrf}
        return world.console.client.post(path, json=body, headers=headers)

    options = post_json("/console/passkeys/options", {})
    added = post_json(
        "/console/passkeys",
        {
            "ceremony_id": options.json()["ceremony_id"],
            "name": "Work phone",
            "credential": key.create(options.json()["public_key"]),
        },
    )
    fresh = Browser(TestClient(world.app, follow_redirects=False))
    fresh.get("/console/login")
    code_page = fresh.post(
        "/console/login", {"username": world.officer.username, "password": PASSWORD}
    )
    challenge = CHALLENGE.search(code_page.text)
    token = challenge.group(1) if challenge else "not-one"
    csrf = {"X-CSRF-Token": fresh.csrf}
    asked = fresh.client.post(
        "/console/login/passkey/options", json={"challenge_token": token}, headers=csrf
    )
    signed_in = fresh.client.post(
        "/console/login/passkey",
        json={
            "challenge_token": token,
            "ceremony_id": asked.json().get("ceremony_id", ""),
            "credential": key.get(asked.json()["public_key"]) if asked.is_success else {},
        },
        headers=csrf,
    )
    step = post_json("/console/passkeys/step-up/options", {})
    stepped = post_json(
        "/console/passkeys/step-up",
        {
            "ceremony_id": step.json()["ceremony_id"],
            "credential": key.get(step.json()["public_key"]),
        },
    )
    wrong = world.console.post("/console/passkeys/step-up/code", {"code": "000000"})
    world.console.get("/console/passkeys")
    with context_of(world.app).database.unit_of_work(write=False) as session:
        (mine,) = auth_repository.list_passkeys(session, world.officer.id)
    removed = world.console.post(f"/console/passkeys/{mine.id}/remove")
    return [page, options, added, code_page, asked, signed_in, step, stepped, wrong, removed]


def second_factor_console(world: World) -> list[Response]:
    """The officer sets up an authenticator app on the console's page, then removes it."""
    page = world.console.get("/console/second-factor")
    begun = world.console.post("/console/second-factor/enrol")
    found = re.search(r"data-secret>([A-Z2-7 ]+)<", begun.text)
    assert found, begun.text
    totp = pyotp.TOTP(found.group(1).replace(" ", ""))
    confirmed = world.console.post(
        "/console/second-factor/confirm", {"code": totp.at(world.scene.clock())}
    )
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", confirmed.text)
    removed = world.console.post("/console/second-factor/remove", {"code": codes[0]})
    return [page, begun, confirmed, removed]


def step_up_console(world: World) -> list[Response]:
    """ "Confirm it is you", as an officer without a factor reaches it: a wrong code refused."""
    page = world.console.get("/console/step-up", params={"next": "/console/me"})
    wrong = world.console.post("/console/step-up", {"code": "000000", "next": "/console/me"})
    return [page, wrong]


def single_sign_on(world: World) -> list[Response]:
    """Single sign-on, on a server where it is not set up: each way in says so."""
    fresh = TestClient(world.app, follow_redirects=False)
    return [
        fresh.get("/api/v1/auth/sso"),
        fresh.post("/api/v1/auth/sso/device"),
        fresh.post("/api/v1/auth/sso/device/token", json={"device_code": "not-one"}),
        fresh.get("/console/sso/start"),
        fresh.get("/console/sso/callback", params={"code": "x", "state": "y"}),
    ]


NEW_PASSWORD = "a different and longer passphrase"


Call = Callable[[World], list[Response]]


@dataclass(frozen=True)
class Probe:
    """How an officer (or their device) calls one route; its answers."""

    method: str
    path: str
    kind: str
    call: Call


def _get(path: str, **params: Any) -> Call:
    return lambda world: [_api(world, "GET", path, params=params)]


def _page(path: str) -> Call:
    return lambda world: [world.console.get(path)]


def enrol_without_a_token(world: World) -> list[Response]:
    return [world.client.post("/api/v1/device/enrol", json={"token": "a guess"})]


def check_in(world: World) -> list[Response]:
    return [world.scene.device.checkin(world.client, now=world.scene.clock())]


def proofs(world: World) -> list[Response]:
    size = world.checkpoint_size
    return [
        _api(world, "GET", "/api/v1/audit/proof/inclusion", params={"seq": 1, "size": size}),
        _api(world, "GET", "/api/v1/audit/proof/consistency", params={"from": 1, "to": size}),
    ]


def console_usage(world: World) -> list[Response]:
    return [
        world.console.get("/console/me/usage"),
        world.console.get(f"/console/me/usage?before={world.usage_cursor}"),
    ]


def device_events(world: World) -> list[Response]:
    left = event(2, type="secure.left", detail={"collar_number": world.officer.collar_number})
    return [upload(world.client, world.scene.device, [left], world.scene.clock())]


def report_lost(world: World) -> list[Response]:
    return [_api(world, "POST", "/api/v1/me/device/lost", json={"note": "left on the bus"})]


def device_reports_itself_lost(world: World) -> list[Response]:
    return [world.device_post("/api/v1/device/lost", {"note": "from the personal side"})]


def report_lost_in_console(world: World) -> list[Response]:
    return [world.console.post("/console/me/lost", {"device": str(world.scene.device.device_id)})]


def change_password(world: World) -> list[Response]:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return [_api(world, "POST", "/api/v1/auth/password", json=body)]


def change_password_in_console(world: World) -> list[Response]:
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return [world.console.post("/console/password", {**form, "confirm_password": NEW_PASSWORD})]


def _device_get(path: str, *, secure: bool = False, **params: Any) -> Call:
    return lambda world: [world.device_get(path, secure=secure, **params)]


# In the order they run: reads, then what the device does in a shift, then the lost report
# (it shuts the secure side), then signing in and out.
PROBES = (
    Probe("GET", "/api/v1/health", READ, _get("/api/v1/health")),
    Probe("GET", "/api/v1/ready", READ, _get("/api/v1/ready")),
    Probe("GET", "/api/v1/ca", READ, _get("/api/v1/ca")),
    Probe("GET", "/api/v1/audit/verifier-key", READ, _get("/api/v1/audit/verifier-key")),
    Probe("GET", "/api/v1/audit/key-changes", READ, _get("/api/v1/audit/key-changes")),
    Probe("GET", "/api/v1/audit/proof/inclusion", READ, proofs),
    Probe("GET", "/api/v1/audit/proof/consistency", READ, proofs),
    Probe("GET", "/api/v1/audit/checkpoint", LOG, _get("/api/v1/audit/checkpoint")),
    Probe("GET", "/openapi.json", DOCUMENT, _get("/openapi.json")),
    Probe("GET", "/docs", DOCUMENT, _get("/docs")),
    Probe("GET", "/redoc", DOCUMENT, _get("/redoc")),
    Probe("GET", "/api-docs-assets/{path}", DOCUMENT, _get("/api-docs-assets/swagger-ui.css")),
    Probe("GET", "/console/static/{path}", DOCUMENT, _get("/console/static/console.css")),
    Probe("GET", "/api/v1/policies/schema", DOCUMENT, _get("/api/v1/policies/schema")),
    Probe("GET", "/api/v1/auth/me", READ, _get("/api/v1/auth/me")),
    Probe("GET", "/api/v1/me/devices", READ, _get("/api/v1/me/devices")),
    Probe("GET", "/api/v1/me/usage", READ, usage_pages),
    Probe("GET", "/console/login", READ, lambda world: console_sign_in(world)[:1]),
    Probe("GET", "/console", READ, _page("/console")),
    Probe("GET", "/console/me", READ, _page("/console/me")),
    Probe("GET", "/console/me/usage", READ, console_usage),
    Probe("GET", "/console/password", READ, _page("/console/password")),
    Probe("GET", "/api/v1/device/policy", READ, _device_get("/api/v1/device/policy")),
    Probe("GET", "/api/v1/device/commands", READ, _device_get("/api/v1/device/commands", wait=0)),
    Probe(
        "GET", "/api/v1/device/apps/{sha256}", READ, _device_get(f"/api/v1/device/apps/{'0' * 64}")
    ),
    Probe(
        "GET",
        "/api/v1/device/justifications",
        READ,
        _device_get("/api/v1/device/justifications", secure=True),
    ),
    Probe("GET", "/api/v1/map", READ, _get("/api/v1/map")),
    Probe("GET", "/api/v1/map/outline", READ, _get("/api/v1/map/outline")),
    Probe("GET", "/api/v1/device/map", READ, _device_get("/api/v1/device/map", secure=True)),
    Probe("POST", "/api/v1/device/enrol", WRITE, enrol_without_a_token),
    Probe("POST", "/api/v1/device/checkin", WRITE, check_in),
    Probe("POST", "/api/v1/device/events", WRITE, device_events),
    Probe("POST", "/api/v1/device/secure-sessions", WRITE, enter_again),
    Probe("POST", "/api/v1/device/transactions", WRITE, transact),
    Probe("POST", "/api/v1/device/justifications/{request_id}", WRITE, justify),
    Probe("POST", "/api/v1/device/secure-sessions/{session_id}/end", WRITE, end_session),
    Probe("POST", "/api/v1/me/device/lost", WRITE, report_lost),
    Probe("POST", "/console/me/lost", WRITE, report_lost_in_console),
    Probe("POST", "/api/v1/device/lost", WRITE, device_reports_itself_lost),
    Probe("POST", "/api/v1/device/commands/{command_id}/receipt", WRITE, receipt),
    Probe("POST", "/api/v1/auth/login", WRITE, auth_session),
    Probe("POST", "/api/v1/auth/refresh", WRITE, auth_session),
    Probe("POST", "/api/v1/auth/logout", WRITE, auth_session),
    Probe("POST", "/api/v1/auth/mfa/enrol", WRITE, second_factor),
    Probe("GET", "/api/v1/auth/mfa/enrol/qr.svg", WRITE, second_factor),
    Probe("POST", "/api/v1/auth/mfa/enrol/confirm", WRITE, second_factor),
    Probe("GET", "/api/v1/auth/mfa", WRITE, second_factor),
    Probe("POST", "/api/v1/auth/login/code", WRITE, second_factor),
    Probe("POST", "/api/v1/auth/step-up", WRITE, second_factor),
    Probe("POST", "/api/v1/auth/mfa/remove", WRITE, second_factor),
    Probe("GET", "/api/v1/auth/passkeys", WRITE, passkeys_api),
    Probe("POST", "/api/v1/auth/passkeys/enrol/options", WRITE, passkeys_api),
    Probe("POST", "/api/v1/auth/passkeys", WRITE, passkeys_api),
    Probe("POST", "/api/v1/auth/login/passkey/options", WRITE, passkeys_api),
    Probe("POST", "/api/v1/auth/login/passkey", WRITE, passkeys_api),
    Probe("POST", "/api/v1/auth/step-up/passkey/options", WRITE, passkeys_api),
    Probe("POST", "/api/v1/auth/step-up/passkey", WRITE, passkeys_api),
    Probe("DELETE", "/api/v1/auth/passkeys/{passkey_id}", WRITE, passkeys_api),
    Probe("GET", "/console/passkeys", WRITE, passkeys_console),
    Probe("POST", "/console/passkeys/options", WRITE, passkeys_console),
    Probe("POST", "/console/passkeys", WRITE, passkeys_console),
    Probe("POST", "/console/login/passkey/options", WRITE, passkeys_console),
    Probe("POST", "/console/login/passkey", WRITE, passkeys_console),
    Probe("POST", "/console/passkeys/step-up/options", WRITE, passkeys_console),
    Probe("POST", "/console/passkeys/step-up", WRITE, passkeys_console),
    Probe("POST", "/console/passkeys/step-up/code", WRITE, passkeys_console),
    Probe("POST", "/console/passkeys/{passkey_id}/remove", WRITE, passkeys_console),
    Probe("GET", "/console/second-factor", WRITE, second_factor_console),
    Probe("POST", "/console/second-factor/enrol", WRITE, second_factor_console),
    Probe("POST", "/console/second-factor/confirm", WRITE, second_factor_console),
    Probe("POST", "/console/second-factor/remove", WRITE, second_factor_console),
    Probe("GET", "/console/step-up", WRITE, step_up_console),
    Probe("POST", "/console/step-up", WRITE, step_up_console),
    Probe("GET", "/api/v1/auth/sso", WRITE, single_sign_on),
    Probe("POST", "/api/v1/auth/sso/device", WRITE, single_sign_on),
    Probe("POST", "/api/v1/auth/sso/device/token", WRITE, single_sign_on),
    Probe("GET", "/console/sso/start", WRITE, single_sign_on),
    Probe("GET", "/console/sso/callback", WRITE, single_sign_on),
    Probe("POST", "/console/login", WRITE, console_sign_in),
    Probe("POST", "/console/login/code", WRITE, console_code),
    Probe("POST", "/api/v1/auth/password", LAST, change_password),
    Probe("POST", "/console/password", LAST, change_password_in_console),
    Probe("POST", "/console/logout", LAST, lambda world: [world.console.post("/console/logout")]),
)


def officer_reachable(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) an officer can call: routes whose access rule admits the officer
    or anyone, the device routes (their device calls them for them), and what the app serves
    outside the API's routes (its OpenAPI document and static files)."""
    found: set[tuple[str, str]] = set()
    for route in declared_routes(app):
        if any(
            isinstance(rule, Public | DeviceAccess) or Role.officer in rule.roles
            for rule in route.rules
        ):
            found.update((method, route.path) for method in route.methods - {"HEAD"})
    for served in app.routes:
        if isinstance(served, Mount):
            found.add(("GET", served.path + "/{path}"))
        elif type(served) is Route:
            found.update((method, served.path) for method in (served.methods or set()) - {"HEAD"})
    return found


def leaks(world: World, answer: Response, *, words: bool) -> list[str]:
    """What of professional standards' activity the answer shows (body and headers)."""
    shown = answer.text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
    found = [marker for marker in sorted(world.markers) if marker.lower() in shown.lower()]
    if words:
        worded = without_random_values(shown)
        found.extend(pattern.pattern for pattern in WORDS if pattern.search(worded))
    return found


def without_random_values(shown: str) -> str:
    """The answer with its freshly minted random values blanked: a token, a second factor's
    secret, a recovery code or a session cookie is random text that spells "flag" or "review"
    by chance now and then, and says nothing of professional standards."""
    return RANDOM_VALUES.sub(lambda value: f"{value[value.lastindex or 0]}RANDOM", shown)


def as_compared(answer: Response) -> tuple[int, str | None, str]:
    """An answer as two calls of one route can be compared: a sign-in form's fresh token
    aside (it differs every time, whoever acts)."""
    return answer.status_code, answer.headers.get("location"), CSRF.sub(r"\1TOKEN", answer.text)


def run(world: World, kinds: tuple[str, ...]) -> Iterator[tuple[Probe, Response]]:
    for probe in PROBES:
        if probe.kind in kinds:
            for answer in probe.call(world):
                assert answer.status_code < 500, (probe.path, answer.text)
                yield probe, answer


class TestRandomValues:
    def test_only_random_values_are_blanked(self) -> None:
        shown = (
            '{"secret": "FLAGREVIEW234567", "recovery_codes": ["flag-1", "review-2"], '
            '"note": "flag raised"}\nset-cookie: tabard_session=flagged; HttpOnly'
        )
        blanked = without_random_values(shown)
        assert "FLAGREVIEW" not in blanked and "flag-1" not in blanked
        assert "flagged" not in blanked and '"secret": RANDOM' in blanked
        assert WORDS[0].search(blanked) is not None, "a flag outside a random value still shows"


class TestEveryOfficerRoute:
    def test_every_route_an_officer_can_reach_is_probed(self, app: FastAPI) -> None:
        probed = {(probe.method, probe.path) for probe in PROBES}
        reachable = officer_reachable(app)
        assert reachable - probed == set(), "add a probe for each new route an officer can reach"
        assert probed - reachable == set(), "a probe for a route that no longer exists"

    def test_a_new_officer_route_without_a_probe_is_noticed(self, app: FastAPI) -> None:
        @app.get("/api/v1/me/something-new")
        def something_new(_: Officer) -> dict[str, str]:
            return {}

        @app.get("/console/me/something-new")
        def something_new_page(_: OfficerPage) -> dict[str, str]:
            return {}

        probed = {(probe.method, probe.path) for probe in PROBES}
        assert officer_reachable(app) - probed == {
            ("GET", "/api/v1/me/something-new"),
            ("GET", "/console/me/something-new"),
        }

    def test_no_answer_shows_professional_standards_activity(
        self, world: World, database: Database
    ) -> None:
        professional_standards_act(world, database)
        found: list[tuple[str, str, list[str]]] = []
        for kinds in ((READ, DOCUMENT, LOG), (WRITE,), (READ, LOG), (LAST,)):
            for probe, answer in run(world, kinds):
                shown = leaks(world, answer, words=probe.kind != DOCUMENT)
                if shown:
                    found.append((probe.method, probe.path, shown))
        assert found == []
        raised = audit_events(database, "appropriate_use.flag_updated")
        assert raised, "the officer's search after the dismissal reopened the flag"

    def test_no_read_changes_when_professional_standards_act(
        self, world: World, database: Database
    ) -> None:
        before = [(probe.path, as_compared(a)) for probe, a in run(world, (READ, DOCUMENT))]

        professional_standards_act(world, database)

        after = [(probe.path, as_compared(a)) for probe, a in run(world, (READ, DOCUMENT))]
        assert len(after) == len(before)
        changed = [b[0] for b, a in zip(before, after, strict=True) if a != b]
        assert changed == []


class TestRefusals:
    def test_an_officer_is_refused_alike_whether_or_not_the_thing_named_exists(
        self, world: World, database: Database
    ) -> None:
        """On every route not open to officers that names something in its path, an officer
        gets one answer for a thing that exists (the flag about them, its audit event, their
        device), one that does not, and one that could not."""
        professional_standards_act(world, database)
        assert world.auditor is not None
        real = {
            "flag_id": world.flag_ids[0],
            "seq": str(world.flag_seq),
            "reference": str(world.scene.device.device_id),
            "username": AUDITOR,
            "collar_number": world.officer.collar_number or "",
        }
        reachable = officer_reachable(world.app)
        checked = 0
        for route in declared_routes(world.app):
            names = re.findall(r"{(\w+)}", route.path)
            if not names:
                continue
            for method in route.methods - {"HEAD"}:
                if (method, route.path) in reachable:
                    continue
                answers = set()
                for value in (None, str(uuid.uuid4()), "no-such-thing"):
                    path, given = route.path, []
                    for name in names:
                        given.append(value or real.get(name) or str(uuid.uuid4()))
                        path = path.replace(f"{{{name}}}", given[-1])
                    if path.startswith("/console"):
                        headers = {"X-CSRF-Token": world.console.csrf}
                        answer = world.console.client.request(method, path, headers=headers)
                    else:
                        answer = world.client.request(method, path, headers=world.api)
                    text = answer.text
                    for shown in given:  # the value named, not the same digits in a token
                        text = re.sub(rf"(?<![\w-]){re.escape(shown)}(?![\w-])", "X", text)
                    answers.add((answer.status_code, text))
                assert len(answers) == 1, (method, route.path, answers)
                assert next(iter(answers))[0] == 403, (method, route.path, answers)
                checked += 1
        assert checked >= 40
