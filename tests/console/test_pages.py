"""The console's pages per role: who may open what, CSRF on every change, the same services
and audit events as the API, bad input shown on the page, nothing fetched from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit import bundle, checkpoints
from mdm_server.commands.models import Command
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import context_of
from tests.server.test_appropriate_use import SAM, WATCHFUL, load, own, queue
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene, make_scene
from tests.support import audit_events, count

# Every role's pages, and who may open each (as the API's routes allow).
PAGES = {
    "/console/fleet": {"it_admin", "auditor"},
    "/console/devices": {"it_admin", "auditor"},
    "/console/commands": {"it_admin", "auditor"},
    "/console/tokens": {"it_admin"},
    "/console/policies": {"it_admin", "auditor"},
    "/console/provisioning": {"it_admin"},
    "/console/audit": {"auditor"},
    "/console/audit/bundle": {"auditor"},
    "/console/audit/checkpoints": {"auditor"},
    "/console/flags": {"auditor"},
    "/console/demand": {"supervisor"},
    "/console/me": {"officer"},
    "/console/me/usage": {"officer"},
}
ROLES = ("it_admin", "auditor", "supervisor", "officer")
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    return make_scene(app, client, admin_headers, enrolled, clock, policy=WATCHFUL)


def checkpoint(app: FastAPI) -> int:
    context = context_of(app)
    with context.database.unit_of_work() as session:
        made = checkpoints.make(
            session,
            signer=context.audit_signer,
            data_dir=context.settings.data_dir,
            now=context.clock(),
        )
        return made.checkpoint.size


class TestWhoMayOpenWhat:
    @pytest.mark.parametrize("role", ROLES)
    def test_each_role_opens_its_pages_and_gets_403_on_the_others(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        for page, allowed in PAGES.items():
            response = browser.get(page)
            expected = 200 if role in allowed else 403
            assert response.status_code == expected, (role, page, response.text[-400:])
            assert response.headers["content-type"].startswith("text/html")
            if expected == 403:
                assert "not open to your role" in response.text

    @pytest.mark.parametrize("role", ROLES)
    def test_the_menu_offers_only_pages_the_role_may_open(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        home = browser.client.get("/console", follow_redirects=True)
        assert home.status_code == 200
        nav = home.text.split('<nav aria-label="Main">')[1].split("</nav>")[0]
        offered = set(re.findall(r'href="([^"]+)"', nav))
        assert offered
        for href in offered:
            assert browser.get(href).status_code == 200, (role, href)

    def test_the_api_refuses_a_console_cookie_and_the_console_a_bearer_token(
        self, browser_for: Callable[..., Browser], admin_headers: dict[str, str], client
    ) -> None:
        browser = browser_for("it_admin")
        assert browser.client.get("/api/v1/devices").status_code == 401
        page = client.get("/console/fleet", headers=admin_headers, follow_redirects=False)
        assert page.status_code == 303


class TestPagesAreSelfContained:
    @pytest.mark.parametrize("role", ROLES)
    def test_every_page_fetches_nothing_from_elsewhere_and_carries_the_csp(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        for page, allowed in PAGES.items():
            if role not in allowed:
                continue
            response = browser.get(page)
            assert not EXTERNAL.search(response.text), page
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["cache-control"] == "no-store"

    def test_static_files_are_served_from_the_server_itself(self, client: TestClient) -> None:
        script = client.get("/console/static/vendor/htmx/htmx.min.js")
        assert script.status_code == 200
        assert "htmx" in script.text[:200]
        licence = client.get("/console/static/vendor/htmx/LICENSE")
        assert "Zero-Clause BSD" in licence.text
        assert client.get("/console/static/console.css").status_code == 200


class TestCsrf:
    def test_a_form_post_without_its_token_is_refused_and_changes_nothing(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        browser = browser_for("it_admin")
        target = f"/console/devices/{enrolled.device_id}/commands"
        body = {"type": "lock_device"}
        missing = browser.client.post(target, data=body)
        wrong = browser.client.post(target, data={**body, "csrf_token": "x" * 43})
        other = browser_for("it_admin")
        other.get("/console/fleet")
        borrowed = browser.client.post(target, data={**body, "csrf_token": other.csrf})
        for response in (missing, wrong, borrowed):
            assert response.status_code == 403
            assert "did not come from the console" in response.text
        assert count(database, Command) == 0
        browser.get(f"/console/devices/{enrolled.device_id}")
        header = browser.client.post(target, data=body, headers={"X-CSRF-Token": browser.csrf})
        assert header.status_code == 303
        assert count(database, Command) == 1

    def test_sign_out_needs_the_token_too(self, browser_for: Callable[..., Browser]) -> None:
        browser = browser_for("officer")
        assert browser.client.post("/console/logout").status_code == 403
        assert browser.get("/console/me").status_code == 200


class TestIT:
    def test_wipes_the_secure_side_from_the_device_page(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        browser = browser_for("it_admin")
        page = browser.get(f"/console/devices/{enrolled.device_id}")
        assert enrolled.serial in page.text
        sent = browser.post(
            f"/console/devices/{enrolled.device_id}/commands",
            {"type": "wipe_secure_side", "reason": "officer left the force"},
        )
        assert sent.status_code == 303
        after = browser.get(sent.headers["location"])
        assert "Sent: wipe secure side" in after.text
        assert 'data-state="queued"' in after.text
        (event,) = audit_events(database, "command.requested")
        assert event.actor_name == browser.user.username
        assert event.detail["type"] == "wipe_secure_side"

    def test_a_wipe_without_a_reason_is_refused_on_the_page(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        browser = browser_for("it_admin")
        browser.get(f"/console/devices/{enrolled.device_id}")
        response = browser.post(
            f"/console/devices/{enrolled.device_id}/commands", {"type": "wipe_secure_side"}
        )
        assert response.status_code == 400
        assert "reason" in response.text
        assert count(database, Command) == 0

    def test_a_full_wipe_waits_for_a_second_admin(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        first = browser_for("it_admin")
        first.get(f"/console/devices/{enrolled.device_id}")
        sent = first.post(
            f"/console/devices/{enrolled.device_id}/commands",
            {"type": "wipe_device", "reason": "seized phone"},
        )
        assert "waiting for a second it_admin" in first.get(sent.headers["location"]).text
        queue_page = first.get("/console/commands")
        (command_id,) = set(re.findall(r"/console/commands/([0-9a-f-]{36})", queue_page.text))
        first.get(f"/console/commands/{command_id}")
        own = first.post(f"/console/commands/{command_id}/approve")
        assert own.status_code in (400, 403, 409)
        second = browser_for("it_admin")
        second.get(f"/console/commands/{command_id}")
        approved = second.post(f"/console/commands/{command_id}/approve")
        assert approved.status_code == 303
        assert "queued" in second.get(f"/console/commands/{command_id}").text
        assert len(audit_events(database, "command.approved")) == 1

    def test_assigns_the_device_and_shows_its_posture(
        self,
        app: FastAPI,
        client: TestClient,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
        enrolled: SimulatedDevice,
        database: Database,
    ) -> None:
        from tests.factories.staff import create_staff

        officer = create_staff(app, role="officer")
        browser = browser_for("it_admin")
        page = browser.get(f"/console/devices/{enrolled.device_id}")
        assert "No posture yet" in page.text
        done = browser.post(
            f"/console/devices/{enrolled.device_id}/assignment",
            {"officer": officer.collar_number, "group": "traffic"},
        )
        assert done.status_code == 303
        after = browser.get(done.headers["location"])
        assert f"{officer.username} ({officer.collar_number})" in after.text
        assert "Assignment saved" in after.text
        assert len(audit_events(database, "device.assigned")) == 1
        unknown = browser.post(
            f"/console/devices/{enrolled.device_id}/assignment", {"officer": "999999"}
        )
        assert unknown.status_code == 400
        assert "no officer with collar number 999999" in unknown.text
        nothing = browser.post(f"/console/devices/{enrolled.device_id}/assignment", {})
        assert nothing.status_code == 400
        updated = enrolled.posture(android_version="9", sdk=28, security_patch="2019-08-01")
        assert enrolled.checkin(client, now=clock(), posture=updated).status_code == 200
        posture = browser.get(f"/console/devices/{enrolled.device_id}").text
        assert "<dt>Encrypted</dt><dd>yes</dd>" in posture
        assert "<dt>Android</dt><dd>9 (SDK 28)</dd>" in posture
        assert "<dt>Security patch</dt><dd>2019-08-01</dd>" in posture
        assert "1 personal, 1 work" in posture

    def test_filters_search_and_htmx_fragments(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice
    ) -> None:
        browser = browser_for("it_admin")
        found = browser.get(f"/console/devices?search={enrolled.serial[:6]}&state=active")
        assert enrolled.serial in found.text
        none = browser.get("/console/devices?search=ZZZZ")
        assert enrolled.serial not in none.text
        assert "No device matches" in none.text
        fragment = browser.get("/console/devices", headers={"HX-Request": "true"})
        assert "<html" not in fragment.text
        assert enrolled.serial in fragment.text
        bad = browser.get("/console/devices?compliance=sort-of")
        assert bad.status_code == 400
        assert "compliance must be one of" in bad.text

    def test_the_fleet_overview_counts_and_draws(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice
    ) -> None:
        page = browser_for("it_admin").get("/console/fleet")
        assert '<svg class="chart" role="img"' in page.text
        assert "SM-J530F: 1" in page.text  # the model chart's description
        assert "7.0: 1" in page.text


class TestAuditor:
    def test_finds_an_officers_searches_and_the_search_is_audited(
        self,
        scene: Scene,
        browser_for: Callable[..., Browser],
        database: Database,
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        browser = browser_for("auditor")
        page = browser.get(
            f"/console/audit?officer={scene.officer.collar_number}&type=person_search"
        )
        assert page.status_code == 200
        assert "surname: Example" in page.text
        (searched,) = audit_events(database, "audit.searched")
        assert searched.actor_name == browser.user.username
        assert searched.detail["filters"] == {
            "officer": scene.officer.collar_number,
            "transaction_type": "person_search",
        }
        csv = browser.get(f"/console/audit/export?officer={scene.officer.collar_number}&format=csv")
        assert csv.status_code == 200
        assert "Example" in csv.text

    def test_bad_filters_are_named_on_the_page(self, browser_for: Callable[..., Browser]) -> None:
        browser = browser_for("auditor")
        response = browser.get("/console/audit?officer=!!&date_of_birth=yesterday")
        assert response.status_code == 422
        assert "officer" in response.text
        assert "date_of_birth" in response.text
        both = browser.get("/console/audit?surname=Smith&registration=AB12CDE")
        assert both.status_code == 400
        assert "one subject at a time" in both.text

    def test_an_event_is_proven_in_the_latest_checkpoint_once_one_covers_it(
        self, app: FastAPI, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("auditor")
        seq = audit_events(database, "auth.login")[-1].seq
        before = browser.get(f"/console/audit/events/{seq}")
        assert 'data-inclusion="not-proven"' in before.text
        checkpoint(app)
        after = browser.get(f"/console/audit/events/{seq}")
        assert 'data-inclusion="proven"' in after.text
        assert len(audit_events(database, "audit.event_read")) == 2

    def test_reviews_a_flag(
        self,
        scene: Scene,
        client: TestClient,
        app: FastAPI,
        browser_for: Callable[..., Browser],
        database: Database,
    ) -> None:
        from tests.factories.staff import headers_for

        api = headers_for(app, "auditor")
        token = str(scene.first_entry()["session_token"])
        load(client, api, own(scene.officer.collar_number, own=[SAM]))
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        (flag,) = queue(client, api)
        browser = browser_for("auditor")
        assert "self search" in browser.get("/console/flags").text
        page = browser.get(f"/console/flags/{flag['id']}")
        assert "surname: Example" in page.text
        short = browser.post(
            f"/console/flags/{flag['id']}/review", {"decision": "dismissed", "note": "x"}
        )
        assert short.status_code == 422
        done = browser.post(
            f"/console/flags/{flag['id']}/review",
            {"decision": "escalated", "note": "searched own record twice; refer"},
        )
        assert done.status_code == 303
        assert 'data-status="escalated"' in browser.get(f"/console/flags/{flag['id']}").text
        assert len(audit_events(database, "appropriate_use.flag_reviewed")) == 1

    def test_downloads_a_bundle_that_verifies_on_its_own(
        self,
        scene: Scene,
        app: FastAPI,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        browser = browser_for("auditor")
        browser.get("/console/audit/bundle")
        start = (clock() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        end = (clock() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        response = browser.post(
            "/console/audit/bundle",
            {"start": start, "end": end, "officer": scene.officer.collar_number},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        verified = bundle.verify(response.content)
        assert verified.events >= 1
        assert verified.query["officer"] == scene.officer.collar_number
        backwards = browser.post("/console/audit/bundle", {"start": end, "end": start})
        assert backwards.status_code == 400
        assert "&#39;to&#39; must be after &#39;from&#39;" in backwards.text

    def test_checks_a_witness_checkpoint_against_the_log(
        self, app: FastAPI, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        checkpoint(app)
        held = browser.client.get("/api/v1/audit/checkpoint").text
        browser_for("officer")  # more events
        checkpoint(app)
        browser.get("/console/audit/checkpoints")
        good = browser.post("/console/audit/checkpoints/witness", {"note": held})
        assert 'data-witness="consistent"' in good.text
        forged = held.replace("\n\n", "\n\n", 1).replace(held.splitlines()[1], "999999", 1)
        bad = browser.post("/console/audit/checkpoints/witness", {"note": forged})
        assert 'data-witness="inconsistent"' in bad.text
        assert "Not a checkpoint this log signed" in bad.text


class TestOfficer:
    def test_reports_their_device_lost_and_its_key_is_destroyed(
        self, scene: Scene, app: FastAPI, database: Database
    ) -> None:
        browser = Browser(TestClient(app, follow_redirects=False))
        assert browser.sign_in(scene.officer.username).status_code == 303
        page = browser.get("/console/me")
        assert scene.device.serial in page.text
        assert "Report this device lost" in page.text
        reported = browser.post(
            "/console/me/lost", {"device": str(scene.device.device_id), "note": "left on a bus"}
        )
        assert reported.status_code == 303
        after = browser.get(reported.headers["location"])
        assert 'data-lost="reported"' in after.text
        assert "Report this device lost" not in after.text
        assert len(audit_events(database, "device.reported_lost")) == 1

    def test_sees_their_own_usage_and_the_policy_they_acknowledged(
        self, scene: Scene, app: FastAPI
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        browser = Browser(TestClient(app, follow_redirects=False))
        browser.sign_in(scene.officer.username)
        usage = browser.get("/console/me/usage")
        assert "person search" in usage.text
        assert "INVESTIGATION" in usage.text
        me = browser.get("/console/me")
        assert "Version <strong>2026.2</strong>, which you have acknowledged" in me.text


class TestSupervisor:
    def test_sees_the_demand_of_their_own_division(
        self, scene: Scene, browser_for: Callable[..., Browser]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        for surname in ("Alpha", "Beta", "Gamma"):
            assert scene.transact(token, person(surname)).status_code == 200
        mine = browser_for("supervisor", division=scene.officer.division)
        page = mine.get("/console/demand")
        assert page.status_code == 200
        assert "person search" in page.text
        figure = re.search(
            r'<span class="figure">(\d+)</span><span class="label">transactions, last 24 h',
            page.text,
        )
        assert figure and figure.group(1) == "3"
        assert "Alpha" not in page.text
        other = browser_for("supervisor", division="elsewhere").get("/console/demand")
        figure = re.search(
            r'<span class="figure">(\d+)</span><span class="label">transactions, last 24 h',
            other.text,
        )
        assert figure and figure.group(1) == "0"
