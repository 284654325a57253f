"""An event a device sent from its outbox, on the pages that show it: the auditor's search
results and event page, and the officer's own usage, each with when it happened on the device
and when the server received it."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.server.test_device_events import event, upload
from tests.server.test_event_times import OFFLINE

SECOND = "%Y-%m-%d %H:%M:%S UTC"
TIME = r'<time class="instant" datetime="[^"]+">'  # a time that never wraps


def test_both_times_show_to_the_auditor_and_to_the_officer(
    app: FastAPI,
    client: TestClient,
    enrolled: SimulatedDevice,
    clock: FakeClock,
    browser_for: Callable[..., Browser],
) -> None:
    officer = browser_for("officer")
    collar = officer.user.collar_number  # type: ignore[attr-defined]
    sent = event(
        1,
        occurred_at=(clock() - OFFLINE).isoformat(),
        detail={"collar_number": collar, "online": False},
    )
    assert upload(client, enrolled, [sent], clock()).status_code == 200
    on_device = (clock() - OFFLINE).strftime(SECOND)
    received = clock().strftime(SECOND)

    auditor = browser_for("auditor")
    results = auditor.get(f"/console/audit?officer={collar}").text
    assert re.search(f"on device {TIME}{on_device}</time>", results)
    assert re.search(f"received {TIME}{received}</time>", results)
    seq = results.split('href="/console/audit/events/')[1].split('"')[0]
    page = auditor.get(f"/console/audit/events/{seq}").text
    assert re.search(f"<dt>Happened on the device</dt><dd>{TIME}{on_device}</time>", page)
    assert re.search(f"<dt>Received by the server</dt><dd>{TIME}{received}</time></dd>", page)

    usage = officer.get("/console/me/usage").text
    assert re.search(f"on your device {TIME}{on_device}</time>", usage)
    assert re.search(f"received {TIME}{received}</time>", usage)
