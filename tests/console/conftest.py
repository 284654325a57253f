"""Console fixtures: a browser-like client signed in as a given role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories.staff import PASSWORD, create_staff

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


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
        self.get("/console/login")
        return self.post(
            "/console/login",
            {"username": username, "password": password},
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
