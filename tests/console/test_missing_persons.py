"""The missing-persons unit's console pages: the board ordered by risk with overdue reviews in
words, the case page's forms doing what the API does (bad input refused, nothing written), and
every other role refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from mdm_server.db import Database
from mdm_server.records.case_models import MissingPersonCaseEntry
from tests.cli.test_missing_persons import open_case
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.support import audit_events, row_counts

BOARD = "/console/missing-persons"


class _Live:
    """What `open_case` needs of a server: its app and its clock."""

    def __init__(self, app: FastAPI, clock: FakeClock) -> None:
        self.app, self.clock = app, clock


@pytest.fixture
def cases(app: FastAPI, clock: FakeClock) -> _Live:
    live = _Live(app, clock)
    open_case(live, "MISPER-CON-1", "low", hours_missing=40)  # type: ignore[arg-type]
    open_case(live, "MISPER-CON-2", "high", hours_missing=3)  # type: ignore[arg-type]
    return live


class TestBoardPage:
    def test_ordered_by_risk_with_overdue_in_words(
        self, cases: _Live, browser_for: Callable[..., Browser], clock: FakeClock
    ) -> None:
        clock.advance(minutes=61)
        page = browser_for("missing_persons").get(BOARD)
        assert page.status_code == 200
        text = page.text
        assert text.index("MISPER-CON-2") < text.index("MISPER-CON-1")
        high_row = text[text.index("MISPER-CON-2") : text.index("MISPER-CON-1")]
        assert "Overdue" in high_row
        assert "overdue for review" in text

    def test_the_menu_leads_the_unit_to_the_board(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        page = browser_for("missing_persons").get("/console/missing-persons")
        assert 'href="/console/missing-persons"' in page.text


class TestCasePage:
    def test_the_forms_regrade_review_assign_and_close(
        self,
        cases: _Live,
        browser_for: Callable[..., Browser],
        database: Database,
    ) -> None:
        browser = browser_for("missing_persons")
        officer = browser_for("officer", collar="7007").user  # type: ignore[attr-defined]
        url = f"{BOARD}/MISPER-CON-1"
        browser.get(url)
        for action, form in (
            ("regrade", {"risk": "medium", "reason": "Missed a medical appointment."}),
            ("reviews", {"note": "Hospitals checked; none admitted."}),
            ("assign", {"collar_number": officer.collar_number, "reason": ""}),
            ("close", {"outcome": "found", "reason": "Found at a friend's flat."}),
        ):
            response = browser.post(f"{url}/{action}", form)
            assert response.status_code == 303, (action, response.text[-400:])
        page = browser.get(url).text
        for words in ("Regraded low to medium", "Assigned to 7007", "Closed (found)"):
            assert words in page
        assert "Close the case" not in page  # a closed case has no forms

    def test_an_empty_reason_is_refused_and_nothing_written(
        self, cases: _Live, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser = browser_for("missing_persons")
        url = f"{BOARD}/MISPER-CON-2"
        browser.get(url)
        before = row_counts(database, MissingPersonCaseEntry)
        response = browser.post(f"{url}/close", {"outcome": "found", "reason": "  "})
        assert response.status_code == 422
        assert "reason" in response.text
        assert row_counts(database, MissingPersonCaseEntry) == before
        assert not audit_events(database, "missing_persons.closed")

    def test_reading_the_case_page_is_audited(
        self, cases: _Live, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        browser_for("missing_persons").get(f"{BOARD}/MISPER-CON-2")
        [event] = audit_events(database, "missing_persons.case_read")
        assert event.detail["reference"] == "MISPER-CON-2"


@pytest.mark.parametrize("role", ["it_admin", "auditor", "supervisor", "officer"])
def test_other_roles_never_see_a_case(
    cases: _Live, browser_for: Callable[..., Browser], role: str
) -> None:
    browser = browser_for(role)
    for url in (BOARD, f"{BOARD}/MISPER-CON-2"):
        response = browser.get(url)
        assert response.status_code == 403, (role, url)
        assert "Case2" not in response.text
