"""A command's pages say what became of it: "at its next check-in" only while it waits, what
happened and when once it has a receipt or a final state, and an expiry only while it can
still expire."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from mdm_server.console.templating import when
from tests.conftest import FakeClock
from tests.console.cells import fact
from tests.console.conftest import Browser
from tests.factories.commands import (
    delivered,
    open_envelope,
    send,
    sign_receipt,
    submit_receipt,
)
from tests.factories.devices import SimulatedDevice

OUTCOME = re.compile(r'<p class="[a-z]+" role="status" id="command-outcome"[^>]*>(.*?)</p>', re.S)


def outcome(page: str) -> str:
    """The sentence saying what became of the command, as words."""
    found = OUTCOME.search(page)
    assert found, "no sentence says what became of the command"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip()


def wipe_from_the_page(browser: Browser, device: SimulatedDevice) -> str:
    """IT wipes the device's secure side from its page; the page it is sent back to."""
    browser.get(f"/console/devices/{device.device_id}")
    sent = browser.post(
        f"/console/devices/{device.device_id}/commands",
        {"type": "wipe_secure_side", "reason": "phone lost on patrol"},
    )
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


def carried_out(client: TestClient, device: SimulatedDevice, clock: FakeClock) -> str:
    """The device fetches its one command and returns a signed receipt; the command's id."""
    (envelope,) = delivered(client, device, clock)
    claims = open_envelope(client, envelope, device_id=str(device.device_id), now=clock())
    command_id = str(claims["command_id"])
    receipt = sign_receipt(device, envelope, command_id=command_id, now=clock())
    answer = submit_receipt(client, device, command_id, receipt, now=clock())
    assert answer.status_code == 200, answer.text
    return command_id


class TestTheDevicePageAfterSending:
    def test_says_next_check_in_only_while_the_wipe_waits(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        browser = browser_for("it_admin")
        back = wipe_from_the_page(browser, enrolled)
        sent_at = clock()
        waiting = outcome(browser.get(back).text)
        assert waiting.startswith(f"Sent {when(sent_at)}: wipe secure side.")
        assert "next check-in" in waiting
        clock.advance(seconds=7)
        command_id = carried_out(client, enrolled, clock)
        assert f"command={command_id}" in back
        done = browser.get(back).text  # the same address, later (a reload)
        said = outcome(done)
        assert "next check-in" not in done
        assert said == (
            f"Wipe secure side carried out {when(clock())}: the device's signed receipt is "
            "verified."
        )
        assert 'data-outcome="succeeded"' in done

    def test_the_refreshed_history_replaces_the_sentence(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        browser = browser_for("it_admin")
        back = wipe_from_the_page(browser, enrolled)
        page = browser.get(back).text
        poll = re.search(r'hx-get="(/console/devices/[^"]+/commands\?command=[^"]+)"', page)
        assert poll, "the history does not refresh with the command it follows"
        carried_out(client, enrolled, clock)
        fragment = browser.get(poll.group(1), headers={"HX-Request": "true"}).text
        assert 'hx-swap-oob="true"' in fragment
        assert 'data-outcome="succeeded"' in fragment
        assert "carried out" in outcome(fragment)
        assert "hx-trigger" not in fragment  # nothing open: the refreshing stops

    def test_another_devices_command_is_not_told_on_this_page(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
    ) -> None:
        command = send(client, admin_headers, str(enrolled.device_id), "lock_device")
        browser = browser_for("it_admin")
        other = f"/console/devices/{enrolled.device_id}?note=sent&type=lock_device"
        unknown = browser.get(f"{other}&command=00000000-0000-4000-8000-000000000000")
        assert unknown.status_code == 200
        assert 'id="command-outcome"' not in unknown.text
        assert 'data-outcome="queued"' in browser.get(f"{other}&command={command['id']}").text


class TestTheCommandPage:
    def test_a_finished_command_says_what_happened_and_shows_no_expiry(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        send(client, admin_headers, str(enrolled.device_id), "lock_device")  # expires in a day
        browser = browser_for("it_admin")
        command_id = carried_out(client, enrolled, clock)
        page = browser.get(f"/console/commands/{command_id}").text
        assert "<dt>Expires</dt>" not in page
        assert outcome(page).startswith(f"Lock device carried out {when(clock())}")
        assert fact(page, "Receipt") == "signed by the device, verified"

    def test_a_waiting_command_shows_when_it_expires(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        command = send(client, admin_headers, str(enrolled.device_id), "lock_device")
        page = browser_for("it_admin").get(f"/console/commands/{command['id']}").text
        assert fact(page, "Expires") == when(command["expires_at"])
        assert fact(page, "Delivered") == "not yet"
        assert "next check-in" in outcome(page)

    def test_a_cancelled_command_says_by_whom_and_was_never_delivered(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        command = send(client, admin_headers, str(enrolled.device_id), "lock_device")
        browser = browser_for("it_admin")
        browser.get(f"/console/commands/{command['id']}")
        clock.advance(minutes=2)
        cancelled = browser.post(
            f"/console/commands/{command['id']}/cancel", {"reason": "sent to the wrong phone"}
        )
        assert cancelled.status_code == 303
        page = browser.get(f"/console/commands/{command['id']}").text
        assert "<dt>Expires</dt>" not in page
        assert fact(page, "Delivered") == "never"
        said = outcome(page)
        assert said.startswith(f"Lock device was cancelled {when(clock())} by ")
        assert said.endswith(": sent to the wrong phone. It was not carried out.")

    def test_a_retirement_waits_then_says_when_it_was_carried_out(
        self,
        browser_for: Callable[..., Browser],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        first = browser_for("it_admin")
        first.get(f"/console/devices/{enrolled.device_id}")
        asked = first.post(
            f"/console/devices/{enrolled.device_id}/retire", {"reason": "screen cracked"}
        )
        assert asked.status_code == 303
        back = asked.headers["location"]
        said = outcome(first.get(back).text)
        assert said == (
            f"Retire, asked for {when(clock())}, is waiting for a second IT administrator's "
            "approval (Commands page)."
        )
        command_id = re.search(r"command=([0-9a-f-]{36})", back)
        assert command_id is not None
        second = browser_for("it_admin")
        second.get(f"/console/commands/{command_id.group(1)}")
        clock.advance(minutes=3)
        assert second.post(f"/console/commands/{command_id.group(1)}/approve").status_code == 303
        assert outcome(first.get(back).text) == f"Retire carried out {when(clock())}."
