"""IT's enrolment tokens and policies in the console."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

from mdm_server.db import Database
from mdm_server.enrolment.models import EnrolmentToken
from mdm_server.policies.models import PolicyVersion
from tests.console.conftest import Browser
from tests.support import audit_events, count

POLICY_V1 = """\
name: patrol
description: Patrol handsets
device:
  warranty_bit_must_be_zero: true
"""
POLICY_V2 = POLICY_V1 + "  encryption_required: true\n"
PAYLOAD_FILE = re.compile(
    r'<a class="button secondary" href="data:application/json;charset=utf-8,([^"]+)" '
    r'download="(tabard-enrolment-[a-z0-9_-]+\.json)"'
)


def payload_file(page: str) -> dict[str, Any]:
    """The enrolment payload the token page offers as a file to download."""
    link = PAYLOAD_FILE.search(page)
    assert link, "no payload file to download"
    parsed: dict[str, Any] = json.loads(unquote(html.unescape(link.group(1))))
    return parsed


class TestTokens:
    def test_creates_a_token_with_its_qr_code_and_shows_the_secret_once(
        self, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/tokens")
        page = browser.post(
            "/console/tokens", {"group": "response", "uses": "5", "hours": "2", "label": "batch"}
        )
        assert page.status_code == 200, page.text
        secret = re.search(r"data-secret>([^<]+)<", page.text)
        assert secret
        assert re.search(r'src="data:image/svg\+xml[^"]+" alt="Enrolment QR code', page.text)
        assert payload_file(page.text)["token"] == secret.group(1)
        assert count(database, EnrolmentToken) == 1
        assert len(audit_events(database, "enrolment_token.created")) == 1
        listing = browser.get("/console/tokens")
        assert "response" in listing.text
        assert secret.group(1) not in listing.text

    def test_bad_token_fields_are_named_and_nothing_is_created(
        self, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/tokens")
        response = browser.post("/console/tokens", {"group": "Not A Group!", "uses": "0"})
        assert response.status_code == 422
        assert "group" in response.text
        assert "uses" in response.text
        assert count(database, EnrolmentToken) == 0

    def test_revokes_a_token(self, browser_for: Callable[..., Browser], database: Database) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/tokens")
        browser.post("/console/tokens", {"group": "response"})
        listing = browser.get("/console/tokens")
        (token_id,) = re.findall(r"/console/tokens/([0-9a-f-]{36})/revoke", listing.text)
        assert browser.post(f"/console/tokens/{token_id}/revoke").status_code == 303
        assert "revoked" in browser.get("/console/tokens?all=true").text
        assert len(audit_events(database, "enrolment_token.revoked")) == 1


class TestPolicies:
    def test_validates_on_paste_with_each_problem_on_its_line(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        bad = POLICY_V1 + "  warranty_bits: maybe\n"
        check = browser.client.post(
            "/console/policies/validate",
            data={"text": bad},
            headers={"X-CSRF-Token": browser.csrf, "HX-Request": "true"},
        )
        assert check.status_code == 200
        assert 'data-check="invalid"' in check.text
        assert "Line 5" in check.text
        assert "device.warranty_bits" in check.text
        broken = browser.client.post(
            "/console/policies/validate",
            data={"text": "name: [unclosed\n"},
            headers={"X-CSRF-Token": browser.csrf, "HX-Request": "true"},
        )
        assert "not valid YAML" in broken.text
        good = browser.client.post(
            "/console/policies/validate",
            data={"text": POLICY_V1},
            headers={"X-CSRF-Token": browser.csrf, "HX-Request": "true"},
        )
        assert 'data-check="valid"' in good.text
        assert "<html" not in good.text

    def test_saves_versions_shows_a_diff_and_assigns(
        self, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        first = browser.post("/console/policies", {"text": POLICY_V1, "comment": "first"})
        assert first.status_code == 303
        assert first.headers["location"] == "/console/policies/patrol"
        browser.post("/console/policies", {"text": POLICY_V2, "comment": "encrypt"})
        assert count(database, PolicyVersion) == 2
        diff = browser.get("/console/policies/patrol?version=2&base=1")
        assert 'data-change="added"' in diff.text
        assert '<code class="diff-text">  encryption_required: true</code>' in diff.text
        assigned = browser.post("/console/policies/patrol/assign", {"scope": "fleet"})
        assert assigned.status_code == 303
        assert "fleet" in browser.get("/console/policies").text

    def test_an_invalid_document_stores_nothing(
        self, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        response = browser.post("/console/policies", {"text": "name: patrol\ndevice: 3\n"})
        assert response.status_code == 422
        assert "device" in response.text
        assert count(database, PolicyVersion) == 0

    def test_yaml_nested_hundreds_deep_is_refused_on_its_line_without_a_traceback(
        self,
        browser_for: Callable[..., Browser],
        database: Database,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        deep = "name: patrol\ndescription: " + "{a: " * 300 + "1" + "}" * 300 + "\n"  # ~1.5 KB
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        with caplog.at_level(logging.INFO):
            check = browser.client.post(
                "/console/policies/validate",
                data={"text": deep},
                headers={"X-CSRF-Token": browser.csrf, "HX-Request": "true"},
            )
            saved = browser.post("/console/policies", {"text": deep})
        assert check.status_code == 200
        assert 'data-check="invalid"' in check.text
        assert "Line 2" in check.text and "nested more than 32 levels deep" in check.text
        assert saved.status_code == 422
        assert "nested more than 32 levels deep" in saved.text
        assert count(database, PolicyVersion) == 0
        assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert "Traceback" not in caplog.text

    def test_auditors_read_policies_but_cannot_write_them(
        self, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        admin = browser_for("it_admin")
        admin.get("/console/policies")
        admin.post("/console/policies", {"text": POLICY_V1})
        auditor = browser_for("auditor")
        page = auditor.get("/console/policies/patrol")
        assert page.status_code == 200
        assert "Apply this policy" not in page.text
        refused = auditor.post("/console/policies", {"text": POLICY_V2})
        assert refused.status_code == 403
        assert count(database, PolicyVersion) == 1


class TestProvisioningRuns:
    def test_lists_runs_and_shows_each_devices_result(
        self, browser_for: Callable[..., Browser], client, admin_headers
    ) -> None:
        import uuid

        from tests.server.test_provisioning_events import URL, a_run

        run_id = str(uuid.uuid4())
        assert client.post(URL, json=a_run(run_id), headers=admin_headers).status_code == 201
        browser = browser_for("it_admin")
        listing = browser.get("/console/provisioning")
        assert f"/console/provisioning/{run_id}" in listing.text
        assert "1 provisioned, 1 refused" in listing.text
        page = browser.get(f"/console/provisioning/{run_id}")
        assert 'data-result="provisioned"' in page.text
        assert 'data-result="refused"' in page.text
        assert "Google account" in page.text
        assert 'data-outcome="incomplete"' in page.text
        assert browser.get(f"/console/provisioning/{uuid.uuid4()}").status_code == 404
