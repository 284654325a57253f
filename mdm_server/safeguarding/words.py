"""A referral's age and deadline as people say them, for the console and the CLI: "3 h 12 min
old, due in 20 h 48 min", "overdue by 2 h 5 min". Overdue is always said in words, never only
shown in a colour."""

from __future__ import annotations

from mdm_server.safeguarding.connector import DECISION_WORDS

RATING_WORDS = {"red": "Red", "amber": "Amber", "green": "Green"}
AT_RISK_WORDS = {"child": "Child", "adult": "Adult at risk"}


def span(seconds: int) -> str:
    """A length of time in days, hours and minutes: `1 d 3 h`, `3 h 12 min`, `4 min`."""
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def due(age_s: int, triage_hours: int, *, decided: bool) -> str:
    """Where a referral stands against its triage deadline."""
    if decided:
        return "decided"
    left = triage_hours * 3600 - age_s
    if left < 0:
        return f"OVERDUE by {span(-left)}"
    return f"due in {span(left)}"


def decision_words(decision: str | None) -> str:
    return DECISION_WORDS.get(decision or "", "not yet decided")


def rating_words(rating: str | None) -> str:
    return RATING_WORDS.get(rating or "", "not rated")
