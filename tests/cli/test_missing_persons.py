"""The missing-persons unit through the CLI against a running server: the board as a table
ordered by risk with overdue reviews in words, a case and its timeline, each action, `--json`,
and refusals in words."""

from __future__ import annotations

import uuid
from datetime import timedelta

from mdm_server.records.cases import NewCase
from mdm_server.records.filed import RecordsCall
from mdm_server.records.missing_persons import DemoMissingPersons
from tests.cli.conftest import REPR_MARKS, Live, row_of
from tests.factories.staff import context_of, create_staff


def open_case(live: Live, reference: str, risk: str, *, hours_missing: int) -> None:
    """A case as a registration from the secure side opens it."""
    context = context_of(live.app)
    with context.database.unit_of_work() as session:
        call = RecordsCall(
            session=session,
            transaction_id=str(uuid.uuid4()),
            collar_number="4021",
            now=live.clock(),
        )
        DemoMissingPersons().open_case(
            NewCase(
                reference=reference,
                surname="Example",
                forename=f"Case{reference[-1]}",
                date_of_birth=None,
                description="Blue coat.",
                last_seen_at=live.clock() - timedelta(hours=hours_missing),
                last_seen_location="Demo Way, Mockton",
                risk=risk,
                division="north",
            ),
            call=call,
        )


class TestBoard:
    def test_the_board_orders_by_risk_and_says_overdue_in_words(self, live: Live) -> None:
        open_case(live, "MISPER-CLI-1", "low", hours_missing=30)
        open_case(live, "MISPER-CLI-2", "high", hours_missing=2)
        live.clock.advance(minutes=61)
        live.login("missing_persons")
        output = live.ok("missing-persons", "board").stdout
        assert output.index("MISPER-CLI-2") < output.index("MISPER-CLI-1")
        assert "OVERDUE" in row_of(output, "MISPER-CLI-2")
        assert "OVERDUE" not in row_of(output, "MISPER-CLI-1")
        assert not any(mark in output for mark in REPR_MARKS)
        board = live.json("missing-persons", "board")
        assert [case["reference"] for case in board["cases"]] == ["MISPER-CLI-2", "MISPER-CLI-1"]

    def test_each_action_then_the_timeline(self, live: Live) -> None:
        open_case(live, "MISPER-CLI-3", "medium", hours_missing=5)
        create_staff(live.app, role="officer", collar="5150")
        live.login("missing_persons")
        ref = "MISPER-CLI-3"
        said = live.ok("missing-persons", "regrade", ref, "--risk", "high", "--reason", "Unwell")
        assert "now graded high" in said.stdout
        live.ok("missing-persons", "assign", ref, "--officer", "5150")
        live.ok("missing-persons", "review", ref, "--note", "CCTV requested from the station.")
        closed = live.json("missing-persons", "close", ref, "--reason", "Found safe and well.")
        assert (closed["status"], closed["outcome"]) == ("closed", "found")
        shown = live.ok("missing-persons", "show", ref).stdout
        for words in ("regraded medium → high", "assigned to 5150", "closed (found)"):
            assert words in shown

    def test_refusals_are_in_words(self, live: Live) -> None:
        open_case(live, "MISPER-CLI-4", "medium", hours_missing=1)
        live.login("missing_persons")
        said = live.refused(
            "missing-persons",
            "regrade",
            "MISPER-CLI-4",
            "--risk",
            "medium",
            "--reason",
            "No change",
        )
        assert "already graded medium" in said
        said = live.refused("missing-persons", "show", "MISPER-NOPE")
        assert "no missing-person case has the reference" in said

    def test_an_officer_is_refused_the_board(self, live: Live) -> None:
        live.login("officer")
        assert "missing-persons unit" in live.refused("missing-persons", "board")
