"""What the screen says: the device's standing from what the agent knows, why the secure side
locked, and the gate's refusals as sentences with what to do next; times to the second with
their zone."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from device_agent.screen import words

AT = "2026-12-05T14:02:07+00:00"
TIME = re.compile(r"\d\d:\d\d:\d\d \w+")


def status(**known: Any) -> dict[str, Any]:
    return {"last_checkin": AT, "standing": {"status": "compliant"}, **known}


class TestStanding:
    @pytest.mark.parametrize(
        ("known", "tone", "headline", "says"),
        [
            ({}, "good", "Compliant", "nothing blocks it"),
            (
                {
                    "standing": {
                        "status": "in_grace",
                        "grace_until": AT,
                        "problems": ["USB debugging is on"],
                    }
                },
                "warn",
                "In grace until",
                "USB debugging is on",
            ),
            (
                {"standing": {"status": "non_compliant", "problems": ["Knox warranty bit"]}},
                "bad",
                "Blocked",
                "Knox warranty bit",
            ),
            (
                {"last_refusal": {"code": "device_reported_lost", "message": "lost", "at": AT}},
                "bad",
                "Reported lost",
                "mark this device found",
            ),
            (
                {"last_lock": {"reason": "command 1234", "at": AT}},
                "bad",
                "Secure side wiped",
                "IT has wiped the secure side of this device at",
            ),
            ({"wiped_at": AT}, "bad", "Wiped", "IT wiped this device at"),
            (
                {"unreachable_since": AT, "offline_until": AT},
                "warn",
                "Offline",
                "Offline use allowed until",
            ),
            ({"last_checkin": None}, "warn", "Not checked in yet", "has not reached"),
        ],
    )
    def test_each_standing_reads_as_words(
        self, known: dict[str, Any], tone: str, headline: str, says: str
    ) -> None:
        shown_tone, shown_headline, meaning = words.standing(status(**known))
        assert shown_tone == tone
        assert shown_headline.startswith(headline)
        assert says in meaning
        assert "_" not in meaning and "{" not in meaning  # no codes, no dumps


class TestRefusals:
    def test_a_lockout_says_until_when(self) -> None:
        said = words.refusal(
            "pin_locked_out", {"message": "too many", "locked_until": AT}, "too many"
        )
        assert "locked until" in said and TIME.search(said)

    def test_a_wrong_pin_says_the_tries_left(self) -> None:
        said = words.refusal("invalid_pin", {"attempts_remaining": 1}, "wrong")
        assert "1 try left" in said

    def test_an_unknown_code_is_still_a_sentence(self) -> None:
        said = words.refusal("something_new", None, "the records system said no.")
        assert said.startswith("That did not work: the records system said no. Try again")


class TestTimes:
    def test_a_time_is_to_the_second_with_its_zone(self) -> None:
        assert TIME.search(words.shown(AT))
        assert words.shown(AT).endswith(datetime.fromisoformat(AT).astimezone().strftime("%Z"))

    def test_a_date_reads_as_uk_readers_write_it(self) -> None:
        assert words.day("1968-10-13") == "13 Oct 1968"


class TestStatusInWords:
    def test_agent_status_shows_the_lock_and_standing_in_words(self) -> None:
        from device_agent.cli import _in_words

        shown = _in_words(
            {
                "last_lock": {"reason": "leave", "at": AT},
                "standing": {"status": "in_grace", "grace_until": AT, "problems": ["USB on"]},
                "last_checkin": AT,
                "last_refusal": None,
            }
        )
        assert shown["last_lock"].startswith("leave at ") and "{" not in shown["last_lock"]
        assert shown["standing"].startswith("in_grace until ") and "(USB on)" in shown["standing"]
        assert TIME.search(shown["last_checkin"])
        assert shown["last_refusal"] is None
