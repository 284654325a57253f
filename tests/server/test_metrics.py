"""/metrics: Prometheus's text format, read back with the official client's own parser after a
device enrols, checks in and answers a command; open only to the metrics token, and never
naming a device, an officer or anything else a label could leak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mdm_server.db import Database
from mdm_server.main import create_app
from tests.conftest import FakeClock, make_settings
from tests.factories.commands import delivered, open_envelope, send, sign_receipt, submit_receipt
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for

TOKEN = "prometheus-scrapes-with-this-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metered(tmp_path: Path, database: Database, clock: FakeClock) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", metrics_token=TOKEN)
    with TestClient(create_app(settings, database=database, clock=clock)) as client:
        yield client


def scrape(client: TestClient) -> Samples:
    """Every sample of a scrape, read by prometheus_client's parser, by name and labels."""
    answer = client.get("/metrics", headers=SCRAPE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class TestScrape:
    def test_the_named_series_count_what_happened(
        self, metered: TestClient, clock: FakeClock
    ) -> None:
        app: FastAPI = metered.app  # type: ignore[assignment]
        it = headers_for(app, "it_admin")
        before = scrape(metered)

        device = SimulatedDevice()
        assert device.enrol(metered, create_token(metered, it)["token"]).status_code == 201
        assert device.checkin(metered, now=clock()).status_code == 200
        command = send(metered, it, device.serial, "lock_device")
        [envelope] = delivered(metered, device, clock)
        claims = open_envelope(metered, envelope, device_id=device.device_id, now=clock())
        clock.advance(seconds=3)
        receipt = sign_receipt(device, envelope, command_id=claims["command_id"], now=clock())
        answered = submit_receipt(metered, device, command["id"], receipt, now=clock())
        assert answered.status_code == 200, answered.text
        after = scrape(metered)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("tabard_enrolments_total") == 1
        assert (
            sum(
                grew("tabard_checkins_total", compliance=status)
                for status in ("unknown", "compliant", "non_compliant", "in_grace", "incompatible")
            )
            == 1
        )
        for state in ("queued", "delivered", "succeeded"):
            assert grew("tabard_commands_total", type="lock_device", state=state) == 1, state
        assert grew("tabard_command_delivery_seconds_count", type="lock_device") == 1
        assert grew("tabard_command_delivery_seconds_sum", type="lock_device") == 3
        checkin = {"method": "POST", "route": "/api/v1/device/checkin", "status": "200"}
        assert grew("tabard_http_requests_total", **checkin) == 1
        latency = {"method": "POST", "route": "/api/v1/device/checkin"}
        assert grew("tabard_http_request_duration_seconds_count", **latency) == 1
        assert grew("tabard_audit_events_total") >= 3  # enrolment, command, receipt at least
        assert value(after, "tabard_devices_active") == 1
        assert value(after, "tabard_devices_not_seen") == 0
        assert value(after, "tabard_commands_open", state="queued") == 0
        assert value(after, "tabard_audit_log_size") >= grew("tabard_audit_events_total")
        assert value(after, "tabard_long_polls_held") == 0
        assert any(name == "tabard_db_pool_connections" for name, _ in after)

    def test_a_route_is_named_by_its_template_never_by_what_it_was_asked_for(
        self, metered: TestClient, clock: FakeClock
    ) -> None:
        app: FastAPI = metered.app  # type: ignore[assignment]
        it = headers_for(app, "it_admin")
        device = SimulatedDevice()
        assert device.enrol(metered, create_token(metered, it)["token"]).status_code == 201
        assert metered.get(f"/api/v1/devices/{device.device_id}", headers=it).status_code == 200
        assert metered.get("/no/such/page/R58M12345").status_code == 404
        text = metered.get("/metrics", headers=SCRAPE).text
        assert 'route="/api/v1/devices/{reference}"' in text
        assert 'route="unmatched"' in text
        for identifier in (device.device_id, device.serial, "R58M12345", "it_admin"):
            assert identifier not in text


class TestWhoMayScrape:
    def test_without_a_token_set_there_is_nothing_there(self, client: TestClient) -> None:
        answer = client.get("/metrics", headers=SCRAPE)
        assert answer.status_code == 404
        assert "TABARD_METRICS_TOKEN" in answer.json()["detail"]

    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer wrong-token-of-the-right-length-000", TOKEN, f"Basic {TOKEN}"],
        ids=["none", "wrong", "not-bearer", "basic"],
    )
    def test_anything_but_the_token_is_refused(
        self, metered: TestClient, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        answer = metered.get("/metrics", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "metrics_token"
        assert TOKEN not in answer.text

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "officer", "supervisor"])
    def test_no_staff_sign_in_opens_it(self, metered: TestClient, role: str) -> None:
        app: FastAPI = metered.app  # type: ignore[assignment]
        answer = metered.get("/metrics", headers=headers_for(app, role))
        assert answer.status_code == 401

    def test_a_short_token_is_refused_at_start(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="at least 24"):
            make_settings(tmp_path, metrics_token="short")
