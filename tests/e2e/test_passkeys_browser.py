"""Passkeys in a real browser: Debian's Chromium with a virtual platform authenticator
(DevTools protocol, WebAuthn.addVirtualAuthenticator: CTAP2, internal transport, resident
keys, user verification) against a live `tabard serve` at http://localhost:PORT. A
supervisor with an authenticator app confirms it is them with a code, adds a passkey on the
console's passkeys page, signs out, and signs in again with the passkey after the password.
Then the same passkey, copied to a second browser, is used at a second origin (a relay on
another port in front of the same server, as a phishing proxy would be): the browser signs
for it, and the server refuses the answer, because the origin it was made for is not the
server's own. Every page is photographed at 1400 and 800 px wide."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.agents import audit_trail
from tests.e2e.browser import Watch, chromium, new_page
from tests.e2e.harness import Phone, Tabard
from tests.e2e.test_console_browser import NEW_PASSWORD, PASSWORD, create_user, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator in this page's browser context; its DevTools session and id."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable", {"enableUI": False})
    added = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return devtools, added["authenticatorId"]


@contextmanager
def relay(target_port: int) -> Iterator[int]:
    """Another port in front of the server: every byte passed through both ways, as a proxy
    that wants someone's sign-in would. Yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target_port))
            for ends in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=ends, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield port
    finally:
        listener.close()


def enrol_authenticator_app(tabard: Tabard) -> Phone:
    """The supervisor sets up an authenticator app too, through the API."""
    with httpx.Client(base_url=tabard.url, timeout=30) as api:
        login = api.post(
            "/api/v1/auth/login", json={"username": "sgt-north", "password": NEW_PASSWORD}
        )
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        phone = Phone(api.post("/api/v1/auth/mfa/enrol", headers=bearer).json()["secret"])
        confirmed = api.post(
            "/api/v1/auth/mfa/enrol/confirm", headers=bearer, json={"code": phone.code()}
        )
        assert confirmed.status_code == 200, confirmed.text
    return phone


def open_passkeys(page: Any) -> None:
    """From any page: "Second factor" beside the name, then its way to the passkeys."""
    page.get_by_role("link", name="Second factor").click()
    page.wait_for_url("**/console/second-factor")
    page.get_by_role("link", name="add or remove passkeys").click()


def add_passkey(page: Any, camera: Any, server: str, phone: Phone) -> None:
    """Confirm it is the supervisor (the session began before the app was set up), then add
    a passkey."""
    open_passkeys(page)
    page.wait_for_url(f"{server}/console/passkeys")
    expect(page.get_by_role("button", name="Confirm with the code")).to_be_visible()
    camera.shoot(page, "passkeys confirm it is you")
    page.get_by_label("Code from your authenticator app").fill(phone.code())
    page.get_by_role("button", name="Confirm with the code").click()
    expect(page.get_by_role("button", name="Add a passkey")).to_be_visible()
    camera.shoot(page, "passkeys none yet")
    page.get_by_label("Name").fill("Work phone")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url(f"{server}/console/passkeys?added")
    expect(page.get_by_role("status")).to_contain_text("Passkey added")
    expect(page.get_by_role("cell", name="Work phone", exact=True)).to_be_visible()
    camera.shoot(page, "passkey added")


def password_then_code_page(page: Any, server: str, camera: Any, name: str) -> None:
    page.goto(f"{server}/console/login")
    page.get_by_label("Username").fill("sgt-north")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Use a passkey")).to_be_visible()
    camera.shoot(page, name)


class TestPasskeysInABrowser:
    def test_register_sign_in_and_a_second_origin_refused(
        self, tabard: Tabard, backend: str
    ) -> None:
        server = f"http://localhost:{tabard.port}"
        tabard.extra_env["TABARD_PUBLIC_URL"] = server  # browsers make no passkeys for an IP
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving(), chromium(server, f"passkeys-{backend}") as (b, watch, camera):
            tabard.login("admin", PASSWORD)
            create_user(tabard, "sgt-north", "supervisor", "--division", "north")
            page = new_page(b, watch, tablet=False)
            devtools, authenticator = virtual_authenticator(page)
            sign_in(page, server, "sgt-north", PASSWORD, first_time=True)
            phone = enrol_authenticator_app(tabard)
            add_passkey(page, camera, server, phone)
            (made,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
                "credentials"
            ]
            assert made["isResidentCredential"] and made["rpId"] == "localhost"

            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/console/login")
            password_then_code_page(page, server, camera, "second factor a passkey or a code")
            expect(page.get_by_label("Code")).to_be_visible()  # the authenticator app's too
            page.get_by_role("button", name="Use a passkey").click()
            page.wait_for_url(f"{server}/console/demand")
            open_passkeys(page)
            expect(page.get_by_role("cell", name="Not yet")).to_have_count(0)  # used now
            camera.shoot(page, "passkeys after signing in with one")
            (used,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
                "credentials"
            ]
            assert used["signCount"] > made["signCount"]

            with relay(tabard.port) as port:
                elsewhere = f"http://localhost:{port}"
                second = Watch(elsewhere)
                phished = new_page(b, second, tablet=False)
                devtools2, authenticator2 = virtual_authenticator(phished)
                devtools2.send(
                    "WebAuthn.addCredential",
                    {"authenticatorId": authenticator2, "credential": used},
                )
                password_then_code_page(phished, elsewhere, camera, "second origin code page")
                phished.get_by_role("button", name="Use a passkey").click()
                expect(phished.get_by_role("alert")).to_contain_text("The passkey was not accepted")
                assert "/console/login" in phished.url  # no session, still on the code page
                camera.shoot(phished, "passkey refused at a second origin")
                (signed,) = devtools2.send(
                    "WebAuthn.getCredentials", {"authenticatorId": authenticator2}
                )["credentials"]
                assert signed["signCount"] > used["signCount"]  # the browser did sign
                second.forgive_refusal(f"{elsewhere}/console/login", 401)  # the refused answer
                assert second.errors == [], second.errors
                assert second.foreign == [], second.foreign

            assert watch.errors == [], watch.errors
            assert watch.foreign == [], watch.foreign
            assert camera.inaccessible == [], "\n".join(camera.inaccessible)
            assert camera.cut_off == [], "\n".join(camera.cut_off)
            assert len(camera.taken) == 2 * camera.shots == 14
        trail = audit_trail(tabard)
        used_events = [e for e in trail if e.action == "auth.second_factor_used"]
        assert [e.detail.get("kind") for e in used_events] == ["totp", "passkey"]
        failed = [e for e in trail if e.action == "auth.second_factor_failed"]
        assert [(e.detail["kind"], e.detail["reason"]) for e in failed] == [
            ("passkey", "wrong_origin")
        ]
        enrolled = [e.detail for e in trail if e.action == "auth.second_factor_enrolled"]
        assert [detail.get("passkey") for detail in enrolled] == [None, "Work phone"]
