"""The MASH queue's console pages: the queue says overdue in words, the referral page offers
only the decisions that fit the person at risk, bad forms are refused in words with nothing
written, and no one but the MASH team opens them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI

from mdm_server.records.filed import RecordsCall
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.factories.safeguarding import referral
from tests.factories.staff import context_of


def raise_referral(app: FastAPI, clock: FakeClock, *, hours_ago: float, **changes: str) -> str:
    context = context_of(app)
    with context.database.unit_of_work() as session:
        call = RecordsCall(
            session=session,
            transaction_id=str(uuid.uuid4()),
            collar_number="4021",
            now=clock() - timedelta(hours=hours_ago),
        )
        body = referral(**changes)["report"]  # type: ignore[arg-type]
        return context.records.raise_referral(body, division="north", call=call)


class TestTheQueuePage:
    def test_overdue_is_said_in_words_and_the_oldest_comes_first(
        self, app: FastAPI, clock: FakeClock, browser_for: Callable[..., Browser]
    ) -> None:
        old = raise_referral(app, clock, hours_ago=30)
        new = raise_referral(app, clock, hours_ago=1, surname="Sample")
        page = browser_for("mash").get("/console/mash").text
        assert page.index(old) < page.index(new)
        assert "OVERDUE by 6 h 0 min" in page
        assert "due in 23 h 0 min" in page


class TestTheReferralPage:
    def test_an_adult_is_offered_adults_social_care_and_not_childrens(
        self, app: FastAPI, clock: FakeClock, browser_for: Callable[..., Browser]
    ) -> None:
        adult = raise_referral(app, clock, hours_ago=1, at_risk="adult", born="1950-01-01")
        browser = browser_for("mash")
        assert "Rate the referral first" in browser.get(f"/console/mash/{adult}").text
        rated = browser.post(
            f"/console/mash/{adult}/rating", {"rating": "amber", "reason": "Frail, alone"}
        )
        assert rated.status_code == 303
        page = browser.get(f"/console/mash/{adult}").text
        assert "Referred to adults&#39; social care" in page
        assert "children&#39;s social care" not in page

    @pytest.mark.parametrize(
        ("form", "says"),
        [
            ({"rating": "red", "reason": "  "}, "give a reason"),
            ({"rating": "purple", "reason": "Because"}, "rating"),
        ],
    )
    def test_a_bad_rating_form_is_refused_in_words_and_nothing_is_written(
        self,
        app: FastAPI,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
        form: dict[str, str],
        says: str,
    ) -> None:
        reference = raise_referral(app, clock, hours_ago=1)
        browser = browser_for("mash")
        browser.get(f"/console/mash/{reference}")
        response = browser.post(f"/console/mash/{reference}/rating", form)
        assert response.status_code == 422
        assert says in response.text
        assert "not rated" in browser.get(f"/console/mash/{reference}").text

    def test_an_unknown_referral_is_a_page_saying_so(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        response = browser_for("mash").get("/console/mash/SG-DEMO-00000000")
        assert response.status_code == 404
        assert "No safeguarding referral has the reference" in response.text

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "supervisor", "officer"])
    def test_no_other_role_opens_the_queue_or_a_referral(
        self, app: FastAPI, clock: FakeClock, browser_for: Callable[..., Browser], role: str
    ) -> None:
        reference = raise_referral(app, clock, hours_ago=1)
        browser = browser_for(role)
        for url in ("/console/mash", f"/console/mash/{reference}"):
            response = browser.get(url)
            assert response.status_code == 403, (role, url)
            assert "Example" not in response.text
