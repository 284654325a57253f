"""Every time a console page shows is a time: to the second, with its zone. How long ago may
stand beside it (a device's last check-in), never in its place ("just now", "4 minutes ago")."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.console.templating import ago, when
from tests.conftest import FakeClock
from tests.console.cells import column, fact
from tests.console.conftest import Browser
from tests.factories.commands import send
from tests.factories.staff import headers_for
from tests.server.test_appropriate_use import SAM, load, own, queue
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene

STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC"
RELATIVE = re.compile(r"just now|\b(?:second|minute|hour|day)s? ago\b", re.I)


def _text(page: str) -> str:
    body = page.split("<main", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def stamped(cell: str, moment: datetime, *, hint: str | None = None) -> None:
    """The cell says the time to the second with its zone, and says how long ago only in
    brackets after it."""
    assert re.fullmatch(rf"{STAMP}(?: \([^()]+\))?", cell), cell
    assert cell.startswith(when(moment)), cell
    if hint is not None:
        assert cell == f"{when(moment)} ({hint})", cell
    else:
        assert "ago" not in cell, cell


def no_bare_ages(page: str) -> None:
    """No relative time on the page except in brackets right after a time."""
    text = _text(page)
    for found in RELATIVE.finditer(text):
        before = text[: found.start()]
        assert re.search(rf"{STAMP} \((?:[^()]*)$", before), text[found.start() - 60 : found.end()]
    assert "just now" not in text


class TestFilters:
    def test_ago_is_a_hint_blank_without_a_time_or_for_one_to_come(self) -> None:
        now = datetime(2026, 12, 4, 20, 32, 27, tzinfo=UTC)
        assert ago(now - timedelta(minutes=4, seconds=5), now) == "4 minutes ago"
        assert ago(now - timedelta(seconds=5), now) == "under a minute ago"
        assert ago(datetime(2026, 12, 2, 20, 0, 0), now) == "2 days ago"  # stored without zone
        assert ago(now + timedelta(seconds=5), now) == ""
        assert ago(None, now) == ""


class TestPagesShowTimes:
    @pytest.fixture
    def seen(
        self, scene: Scene, client: TestClient, app: FastAPI
    ) -> tuple[datetime, dict[str, str]]:
        """A device that checked in, a command sent to it and a flag its officer's search
        raised, all at one moment; that moment and the ids."""
        moment = scene.clock()
        auditor = headers_for(app, "auditor")
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        (flag,) = queue(client, auditor)
        command = send(client, scene.admin, str(scene.device.device_id), "lock_device")
        return moment, {"flag": flag["id"], "command": command["id"]}

    @pytest.mark.parametrize("later", [timedelta(0), timedelta(minutes=4, seconds=5)])
    def test_staff_pages_show_the_time_to_the_second_with_its_zone(
        self,
        scene: Scene,
        seen: tuple[datetime, dict[str, str]],
        clock: FakeClock,
        browser_for: Callable[..., Browser],
        later: timedelta,
    ) -> None:
        moment, _ = seen
        clock.advance(seconds=later.total_seconds())
        hint = "under a minute ago" if not later else "4 minutes ago"
        flags = browser_for("auditor").get("/console/flags").text
        (raised,) = column(flags, "Raised")
        stamped(raised, moment)
        it = browser_for("it_admin")
        devices = it.get("/console/devices").text
        (last_seen,) = column(devices, "Last seen")
        stamped(last_seen, moment, hint=hint)
        device = it.get(f"/console/devices/{scene.device.device_id}").text
        stamped(fact(device, "Last seen"), moment, hint=hint)
        (requested,) = column(device, "Requested")
        stamped(requested, moment)
        commands = it.get("/console/commands?state=all").text
        (sent,) = column(commands, "When")
        stamped(sent, moment)
        for page in (flags, devices, device, commands):
            no_bare_ages(page)

    def test_the_officer_sees_when_their_device_last_checked_in(
        self, scene: Scene, seen: tuple[datetime, dict[str, str]], clock: FakeClock, app: FastAPI
    ) -> None:
        moment, _ = seen
        clock.advance(hours=3, minutes=1)
        officer = Browser(TestClient(app, follow_redirects=False))
        assert officer.sign_in(scene.officer.username).status_code == 303
        page = officer.get("/console/me").text
        stamped(fact(page, "Last checked in"), moment, hint="3 hours ago")
        no_bare_ages(page)
