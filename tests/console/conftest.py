"""Console fixtures: a browser-like client signed in as a given role."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit import checkpoints
from mdm_server.auth import repository as auth_repository
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import PASSWORD, context_of, create_staff, second_factor_code
from tests.server.test_appropriate_use import WATCHFUL
from tests.server.test_secure import Scene, make_scene

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHALLENGE = re.compile(r'name="challenge_token" value="([^"]+)"')
NEXT = re.compile(r'name="next" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    """A TestClient that keeps cookies and reads each page's CSRF token, as a browser would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        response = self.client.get(url, **kwargs)  # type: ignore[arg-type]
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, url: str, data: dict[str, str] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=form, **kwargs)  # type: ignore[arg-type]

    def sign_in(self, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        """The password, then, for an account with a second factor, the code its phone shows
        on the code page: the last response."""
        self.get("/console/login")
        response = self.post(
            "/console/login",
            {"username": username, "password": password},
            follow_redirects=False,
        )
        return self.pass_code(response, username)

    def pass_code(self, response, username: str):  # type: ignore[no-untyped-def]
        """Answer the code page `response` shows, if it is one, with the phone's code."""
        challenge = CHALLENGE.search(response.text)
        if response.status_code != 200 or challenge is None:
            return response
        app: FastAPI = self.client.app  # type: ignore[assignment]
        with context_of(app).database.unit_of_work(write=False) as session:
            user = auth_repository.get_user_by_username(session, username)
        assert user is not None
        return self.post(
            "/console/login/code",
            {
                "challenge_token": challenge.group(1),
                "code": second_factor_code(app, user),
                "next": html.unescape(NEXT.search(response.text).group(1)),  # type: ignore[union-attr]
            },
            follow_redirects=False,
        )


@pytest.fixture
def browser_for(app: FastAPI) -> Iterator[Callable[..., Browser]]:
    """Make a fresh browser signed in as a new account of `role`."""
    clients: list[TestClient] = []

    def make(role: str, **kwargs: object) -> Browser:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        browser = Browser(client)
        user = create_staff(app, role=role, **kwargs)  # type: ignore[arg-type]
        response = browser.sign_in(user.username)
        assert response.status_code == 303, response.text
        browser.user = user  # type: ignore[attr-defined]
        return browser

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    """An officer with a PIN on an enrolled, assigned device, under the watchful policy."""
    return make_scene(app, client, admin_headers, enrolled, clock, policy=WATCHFUL)


def checkpoint(app: FastAPI) -> int:
    """Sign a checkpoint of the audit log now; its size."""
    context = context_of(app)
    with context.database.unit_of_work() as session:
        made = checkpoints.make(
            session,
            signer=context.audit_signer,
            data_dir=context.settings.data_dir,
            now=context.clock(),
        )
        return made.checkpoint.size
