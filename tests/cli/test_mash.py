"""The MASH team's queue through the CLI against a running server: the queue as a table with
each referral's age against the deadline in words, a referral shown whole, rating and deciding,
refusals in one line, and `--json`."""

from __future__ import annotations

import uuid
from datetime import timedelta

from mdm_server.records.filed import RecordsCall
from tests.cli.conftest import REPR_MARKS, Live, cells, row_of
from tests.factories.safeguarding import referral
from tests.factories.staff import context_of


def raise_referral(live: Live, *, surname: str, hours_ago: float, at_risk: str = "child") -> str:
    """A referral as an officer's filing leaves it, raised `hours_ago`."""
    context = context_of(live.app)
    born = "2015-03-02" if at_risk == "child" else "1950-06-01"
    report = referral(surname=surname, at_risk=at_risk, born=born)["report"]
    with context.database.unit_of_work() as session:
        call = RecordsCall(
            session=session,
            transaction_id=str(uuid.uuid4()),
            collar_number="4021",
            now=live.clock() - timedelta(hours=hours_ago),
        )
        return context.records.raise_referral(report, division="north", call=call)


class TestMashQueue:
    def test_the_queue_says_what_is_overdue_in_words(self, live: Live) -> None:
        old = raise_referral(live, surname="Example", hours_ago=26)
        new = raise_referral(live, surname="Sample", hours_ago=2)
        live.login("mash")
        shown = live.ok("mash", "queue").stdout
        assert "decide within 24 h" in shown
        assert cells(row_of(shown, old))[3:6] == ["1 d 2 h", "OVERDUE by 2 h 0 min", "not rated"]
        assert cells(row_of(shown, new))[3:5] == ["2 h 0 min", "due in 22 h 0 min"]
        assert shown.index(old) < shown.index(new)
        assert not any(mark in shown for mark in REPR_MARKS)
        page = live.json("mash", "queue", "--showing", "overdue")
        assert [item["reference"] for item in page["items"]] == [old]

    def test_rate_decide_and_show(self, live: Live) -> None:
        reference = raise_referral(live, surname="Example", hours_ago=1)
        live.login("mash")
        rated = live.ok("mash", "rate", reference, "red", "--reason", "Alone overnight").stdout
        assert rated.strip() == f"Referral {reference} is rated Red."
        decided = live.ok(
            "mash", "decide", reference, "childrens_social_care", "--reason", "Neglect"
        ).stdout
        assert decided.strip() == f"Referral {reference}: referred to children's social care."
        shown = live.ok("mash", "show", reference).stdout
        assert "Robin Example" in shown and "Alone overnight" in shown and "Neglect" in shown
        assert live.json("mash", "show", reference)["decision"] == "childrens_social_care"
        assert live.json("mash", "queue", "--showing", "decided")["total"] == 1

    def test_refusals_are_one_line_in_words(self, live: Live) -> None:
        adult = raise_referral(live, surname="Example", hours_ago=1, at_risk="adult")
        live.login("mash")
        said = live.refused("mash", "decide", adult, "police_action", "--reason", "x")
        assert "rate it red, amber or green first" in said
        live.ok("mash", "rate", adult, "amber", "--reason", "Frail, lives alone")
        said = live.refused("mash", "decide", adult, "childrens_social_care", "--reason", "x")
        assert "does not fit: the person at risk is an adult" in said
        said = live.refused("mash", "show", "SG-DEMO-00000000")
        assert "no safeguarding referral has the reference" in said
        said = live.refused("mash", "rate", adult, "red", "--reason", "  ")
        assert "say why" in said

    def test_other_roles_are_refused(self, live: Live) -> None:
        live.login("supervisor", division="north")
        said = live.refused("mash", "queue")
        assert "MASH team members" in said
