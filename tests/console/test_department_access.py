"""Who may use the departments' routes (issue: the missing-persons board, the MASH queue, the
map and the demand view), as one matrix: every staff role against every department route, in
the API and the console, over a division with a missing person's case and a safeguarding
referral in it. The missing-persons unit never reads a referral and the MASH team never a case;
a supervisor gets counts and places, never a name or a reference; an officer gets their own
division's map and nothing else here (their own cases and referrals come to them over their
device, tests/missing_persons and tests/server/test_safeguarding.py). A department route
missing from the matrix fails `test_every_department_route_is_in_the_matrix`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from mdm_server.auth.roles import STAFF_ROLES, Role
from mdm_server.deps import declared_routes
from tests.console.conftest import Browser
from tests.factories.departments import open_case, raise_referral
from tests.factories.staff import context_of, headers_for

CASE_NAME, REFERRAL_NAME = "Matrixcase", "Matrixreferral"
MP, MASH, SUPERVISOR, OFFICER = (
    Role.missing_persons,
    Role.mash,
    Role.supervisor,
    Role.officer,
)
PREFIXES = (
    "/api/v1/missing-persons",
    "/api/v1/safeguarding",
    "/api/v1/map",
    "/api/v1/demand",
    "/api/v1/device/map",
    "/console/missing-persons",
    "/console/mash",
    "/console/map",
    "/console/demand",
)
CASE_ROUTES = "/missing-persons/{reference}"
# Who may call each department route; every other staff role is refused (403). The device's
# own route takes a device's credentials, never a staff account's.
MATRIX: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/api/v1/missing-persons"): frozenset({MP}),
    ("GET", "/api/v1/missing-persons/{reference}"): frozenset({MP}),
    ("POST", "/api/v1/missing-persons/{reference}/regrade"): frozenset({MP}),
    ("POST", "/api/v1/missing-persons/{reference}/assign"): frozenset({MP}),
    ("POST", "/api/v1/missing-persons/{reference}/reviews"): frozenset({MP}),
    ("POST", "/api/v1/missing-persons/{reference}/close"): frozenset({MP}),
    ("GET", "/api/v1/missing-persons/counts"): frozenset({SUPERVISOR}),
    ("GET", "/api/v1/safeguarding/referrals"): frozenset({MASH}),
    ("GET", "/api/v1/safeguarding/referrals/{reference}"): frozenset({MASH}),
    ("POST", "/api/v1/safeguarding/referrals/{reference}/rating"): frozenset({MASH}),
    ("POST", "/api/v1/safeguarding/referrals/{reference}/decision"): frozenset({MASH}),
    ("GET", "/api/v1/safeguarding/counts"): frozenset({SUPERVISOR}),
    ("GET", "/api/v1/demand"): frozenset({SUPERVISOR}),
    ("GET", "/api/v1/map"): frozenset({SUPERVISOR, OFFICER}),
    ("GET", "/api/v1/map/outline"): frozenset({SUPERVISOR, OFFICER}),
    ("GET", "/api/v1/device/map"): frozenset(),
    ("GET", "/console/missing-persons"): frozenset({MP}),
    ("GET", "/console/missing-persons/{reference}"): frozenset({MP}),
    ("POST", "/console/missing-persons/{reference}/regrade"): frozenset({MP}),
    ("POST", "/console/missing-persons/{reference}/assign"): frozenset({MP}),
    ("POST", "/console/missing-persons/{reference}/reviews"): frozenset({MP}),
    ("POST", "/console/missing-persons/{reference}/close"): frozenset({MP}),
    ("GET", "/console/mash"): frozenset({MASH}),
    ("GET", "/console/mash/{reference}"): frozenset({MASH}),
    ("POST", "/console/mash/{reference}/rating"): frozenset({MASH}),
    ("POST", "/console/mash/{reference}/decision"): frozenset({MASH}),
    ("GET", "/console/map"): frozenset({SUPERVISOR}),
    ("GET", "/console/map/outline.geojson"): frozenset({SUPERVISOR}),
    ("GET", "/console/demand"): frozenset({SUPERVISOR}),
}
# Whose names each role may meet on these routes: only a department's own people.
NAMES_SEEN = {MP: {CASE_NAME}, MASH: {REFERRAL_NAME}}


@dataclass(frozen=True)
class Work:
    case: str
    referral: str


def department_work(app: FastAPI) -> Work:
    """A missing person's case and a safeguarding referral in `north`, as filings open them."""
    context = context_of(app)
    now = context.clock()
    with context.database.unit_of_work() as session:
        case = open_case(context.records, session, division="north", now=now, surname=CASE_NAME)
        referral = raise_referral(
            context.records, session, division="north", at=now, surname=REFERRAL_NAME
        )
    return Work(case=case, referral=referral)


def department_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in declared_routes(app)
        if route.path.startswith(PREFIXES)
        for method in route.methods - {"HEAD"}
    }


def url(path: str, work: Work) -> str:
    reference = (
        work.case if path.startswith(("/api/v1/missing", "/console/missing")) else (work.referral)
    )
    return path.replace("{reference}", reference)


def call_api(client: TestClient, headers: dict[str, str], method: str, path: str) -> Response:
    return client.request(method, path, headers=headers, json={} if method == "POST" else None)


def call_console(browser: Browser, method: str, path: str) -> Response:
    return browser.get(path) if method == "GET" else browser.post(path, {})


def test_every_department_route_is_in_the_matrix(app: FastAPI) -> None:
    assert department_routes(app) == set(MATRIX), "add each new department route to MATRIX"


@pytest.mark.parametrize("role", STAFF_ROLES, ids=[role.value for role in STAFF_ROLES])
def test_each_role_against_every_department_route(
    app: FastAPI, client: TestClient, browser_for: Callable[..., Browser], role: Role
) -> None:
    work = department_work(app)
    headers = headers_for(app, role.value, division="north")
    browser = browser_for(role.value, division="north")
    unseen = {CASE_NAME, REFERRAL_NAME, work.case, work.referral} - NAMES_SEEN.get(role, set())
    if role is MP:
        unseen -= {work.case}
    if role is MASH:
        unseen -= {work.referral}
    answers: list[tuple[str, str, Response]] = []
    for method, path in sorted(MATRIX, key=lambda key: (key[0] == "POST", key)):
        where = url(path, work)
        if path.startswith("/console"):
            answer = call_console(browser, method, where)
        else:
            answer = call_api(client, headers, method, where)
        answers.append((method, path, answer))
        allowed = role in MATRIX[(method, path)]
        if not allowed:
            expected = 401 if path == "/api/v1/device/map" else 403
            assert answer.status_code == expected, (role, method, path, answer.text[:300])
        elif method == "GET":
            assert answer.status_code == 200, (role, method, path, answer.text[:300])
        else:  # allowed in, and told what the empty form lacks
            assert answer.status_code in (303, 400, 422), (role, method, path, answer.text[:300])
    for method, path, answer in answers:
        shown = answer.text
        assert not [name for name in unseen if name in shown], (role, method, path)


def test_the_owning_department_sees_its_own_names(
    app: FastAPI, client: TestClient, browser_for: Callable[..., Browser]
) -> None:
    """The matrix's name check can fail: each department does see its own work's names."""
    work = department_work(app)
    unit = headers_for(app, "missing_persons")
    assert CASE_NAME in client.get(f"/api/v1/missing-persons/{work.case}", headers=unit).text
    mash = browser_for("mash")
    assert REFERRAL_NAME in mash.get(f"/console/mash/{work.referral}").text


def test_an_officer_gets_only_their_own_division_s_map(app: FastAPI, client: TestClient) -> None:
    officer = headers_for(app, "officer", division="north")
    assert client.get("/api/v1/map", headers=officer).status_code == 200
    other = client.get("/api/v1/map", params={"division": "south"}, headers=officer)
    assert other.status_code == 403, other.text
