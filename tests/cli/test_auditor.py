"""Professional standards' commands against a running server: the flag queue, a flag with its
notes and evidence, its review by short id, and loading the directory the rules read."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from mdm_server.appropriate_use import flags
from mdm_server.audit.service import Actor, record
from policies import appropriate_use as rules
from tests.cli.conftest import REPR_MARKS, VALIDATION_DUMP, Live, row_of
from tests.factories.staff import context_of
from tests.support import audit_events

COLLAR = "4021"


def raise_flag(live: Live, *, rule: str = "self_search", officer: str = COLLAR) -> uuid.UUID:
    """A flag the rules raised over one recorded transaction, as the server stores it."""
    context = context_of(live.app)
    with context.database.unit_of_work() as session:
        event_id = record(
            session,
            actor=Actor(type="device", id=str(uuid.uuid4()), name="R58J530F0001"),
            action="transaction.person_search",
            now=live.clock(),
            detail={
                "collar_number": officer,
                "type": "person_search",
                "purpose": "INVESTIGATION",
                "outcome": "answered",
            },
        )
        lead = rules.Flag(
            rule=rule,
            officer=officer,
            key="9f" * 16,
            evidence=(str(event_id),),
            score=0.8,
            detail={"matched": ["own record", "date of birth"], "window": {"days": 28}},
        )
        (flag,) = flags.raise_flags(session, [lead], now=live.clock())
        return flag.id


class TestFlags:
    def test_list_show_and_review_by_short_id(self, live: Live) -> None:
        flag_id = raise_flag(live)
        short = str(flag_id)[:8]
        live.login("auditor")

        row = row_of(live.ok("flags", "list").stdout, short)
        assert all(word in row for word in ("self_search", COLLAR, "0.80", "open", "UTC"))
        assert live.json("flags", "list")["items"][0]["id"] == str(flag_id)

        shown = live.ok("flags", "show", short).stdout
        assert "own record, date of birth" in row_of(shown, "matched")
        assert "days: 28" in row_of(shown, "window")
        assert "Evidence: 1 transactions" in shown
        assert "transaction.person_search" in row_of(shown, "INVESTIGATION")
        assert not any(mark in shown for mark in REPR_MARKS), shown
        database = context_of(live.app).database
        assert len(audit_events(database, "appropriate_use.flag_read")) == 1

        escalated = live.ok("flags", "escalate", short, "--note", "self search, twice")
        assert f"Flag {short} is now escalated." in escalated.stdout
        refused = live.refused("flags", "reopen", short, "--note", "not from escalated")
        assert "the flag is escalated; from there it can go to dismissed" in refused
        assert live.json("flags", "dismiss", short, "--note", "hearing held")["status"] == (
            "dismissed"
        )
        assert "now open" in live.ok("flags", "reopen", short, "--note", "new evidence").stdout
        noted = live.ok("flags", "note", short, "--note", "called the officer's inspector")
        assert f"Note added to flag {short} (open)." in noted.stdout

        notes = live.ok("flags", "show", short).stdout
        assert "open → escalated" in row_of(notes, "self search, twice")
        assert "note only" in row_of(notes, "called the officer's inspector")
        reviewed = audit_events(database, "appropriate_use.flag_reviewed")
        assert [e.detail["to"] for e in reviewed] == ["escalated", "dismissed", "open"]
        assert live.json("flags", "list", "--status", "all")["total"] == 1

    def test_refusals_are_plain_words(self, live: Live) -> None:
        raise_flag(live)
        live.login("auditor")
        for args, says in (
            (("flags", "show", "xyz"), "'xyz' is not a flag id"),
            (("flags", "show", "00000000"), "no flag id starts with '00000000'"),
            (("flags", "dismiss", "00000000", "--note", "ok"), "--note: write 3 to 4,000"),
        ):
            said = live.refused(*args)
            assert says in said, said
            assert not any(mark in said for mark in REPR_MARKS + VALIDATION_DUMP), said
        usage = live.tabard("flags", "list", "--status", "closed")
        assert usage.exit_code == 2 and "'closed' is not one of" in usage.output

    def test_an_officer_is_refused_the_queue(self, live: Live) -> None:
        raise_flag(live)
        live.login("officer")
        said = live.refused("flags", "list")
        assert "(forbidden)" in said
        assert "self_search" not in said


SAM = {"surname": "Example", "forename": "Sam", "date_of_birth": "1990-02-03"}


class TestDirectory:
    def test_load_replaces_the_directory_and_reports_counts(
        self, live: Live, tmp_path: Path
    ) -> None:
        live.login("auditor")
        path = tmp_path / "directory.json"
        path.write_text(
            json.dumps(
                {
                    "officers": {
                        COLLAR: {
                            "own": [SAM],
                            "associations": [{"surname": "Doe", "forename": "Jo"}],
                            "shifts": [
                                {"start": "2026-11-21T07:00:00Z", "end": "2026-11-21T17:00:00Z"}
                            ],
                        }
                    },
                    "protected": [{"registration": "PR07 ECT"}],
                }
            )
        )
        declined = live.tabard("directory", "load", str(path), input="n\n")
        assert declined.exit_code == 1
        database = context_of(live.app).database
        assert audit_events(database, "appropriate_use.directory_loaded") == []

        loaded = live.ok("directory", "load", str(path), input="y\n").stdout
        assert (
            "Directory loaded: 1 officers, 1 own records, 1 associations, 1 shifts, "
            "1 protected subjects." in loaded
        )
        counts = live.json("directory", "load", "-", "--yes", input=path.read_text())
        assert counts == {
            "officers": 1,
            "own_records": 1,
            "associations": 1,
            "protected": 1,
            "shifts": 1,
        }
        assert len(audit_events(database, "appropriate_use.directory_loaded")) == 2

    def test_a_bad_directory_is_refused_with_what_to_fix(self, live: Live, tmp_path: Path) -> None:
        live.login("auditor")
        broken = tmp_path / "broken.json"
        broken.write_text('{"officers": {\n  "4021": [}\n')
        assert "broken.json:2:" in live.refused("directory", "load", str(broken), "--yes")
        naive = tmp_path / "naive.json"
        naive.write_text(
            json.dumps(
                {"officers": {COLLAR: {"shifts": [{"start": "2026-11-21T07:00", "end": "x"}]}}}
            )
        )
        said = live.refused("directory", "load", str(naive), "--yes")
        assert "shifts" in said and not any(mark in said for mark in REPR_MARKS), said
        assert "--yes" in live.refused("directory", "load", "-", input="{}")
        missing = live.refused("directory", "load", str(tmp_path / "none.json"), "--yes")
        assert "cannot read" in missing and "No such file" in missing
