"""What the screen says to the officer: the device's standing, the gate's refusals and the
reasons the secure side locked, each in plain words with what to do next. Times are shown to
the second in the device's own time zone."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

# The server's (and the agent's own) refusal codes, as a sentence saying what to do next.
REFUSALS = {
    "invalid_pin": "The collar number or PIN is wrong. Check them and try again.",
    "pin_locked_out": "Too many wrong PINs. The PIN is locked until {locked_until}; "
    "wait until then, or ask IT to clear the lockout.",
    "pin_not_set": "You have no secure-side PIN yet. Ask IT to set one for you.",
    "officer_not_found": "No officer has that collar number. Check it and try again.",
    "device_not_assigned": "This device is not assigned to you. Ask IT to assign it, "
    "or use the device issued to you.",
    "device_non_compliant": "This device may not open the secure side until it is fixed: "
    "{message}. Contact IT.",
    "device_reported_lost": "This device is reported lost. IT must mark it found before "
    "the secure side opens again.",
    "device_leaving_service": "This device is being wiped or retired. Hand it in to IT.",
    "device_cloned": "This device's identity is in use elsewhere. Stop using it and contact IT.",
    "weak_pin": "That new PIN is not allowed: {message}. Choose another.",
    "clock_moved_back": "The device's clock is wrong. Connect to the network so it can be "
    "corrected, then try again.",
    "offline_not_allowed": "The server cannot be reached, and this device may not open the "
    "secure side offline. Try again when you have a signal.",
    "offline_deadline_passed": "Offline use has ended. Connect to the network to enter.",
    "offline_other_officer": "Offline, only the officer who last entered online may enter.",
    "offline_locked_out": "Too many wrong PINs offline: offline entry is no longer possible. "
    "Connect to the network to enter.",
    "offline": "Searches need the server, which cannot be reached. Try again when you have "
    "a signal.",
    "purpose_not_allowed": "That purpose is not allowed for this search. Choose one from the list.",
    "incident_reference_required": "This needs an incident reference. Enter it and try again.",
    "transaction_not_allowed": "Your force's policy does not allow this on this device.",
    "records_unavailable": "The records system is not answering. Try again in a minute.",
    "session_ended": "Your secure session has ended. Enter again to carry on.",
    "invalid_session": "Your secure session has ended. Enter again to carry on.",
    "device_not_active": "The server no longer accepts this device. Hand it in to IT.",
    "certificate_revoked": "The server no longer accepts this device. Hand it in to IT.",
    "unreachable": "The server cannot be reached. Try again when you have a signal.",
    "signed_statement": "That is a signed witness statement: it can never be changed. "
    "Read it back and add an annotation instead.",
    "report_not_found": "No report has that reference. Check it and try again.",
    "wrong_kind_of_report": "That is the wrong kind of report for this: {message}.",
    "nothing_changes": "Nothing would change: the report already says that. "
    "Change a field, or go back.",
}
FALLBACK = "That did not work: {message}. Try again, or contact IT if it keeps happening."

# Why the secure side locked, for the page it locked under.
LOCKS = {
    "leave": "You left the secure side at {at}.",
    "inactivity": "The secure side locked at {at} because it was not used for a while.",
    "max_length": "The secure side locked at {at}: the session reached its maximum length.",
    "session_ended": "The secure side locked at {at}: the session ended on the server.",
    "superseded": "The secure side locked at {at} because it was entered again.",
    "switched_to_personal": "The secure side locked at {at} when you switched to the "
    "personal side.",
    "agent_stopped": "The secure side locked at {at} because the device agent stopped.",
    "key_destroyed_by_server": "IT has wiped the secure side of this device at {at}.",
    "certificate_revoked": "The server no longer accepts this device; the secure side was "
    "wiped at {at}.",
    "device_not_active": "The server no longer accepts this device; the secure side was "
    "wiped at {at}.",
}
WIPED_BY_IT = "IT has wiped the secure side of this device at {at}."


def shown(moment: str | datetime | None) -> str:
    """A time for people: to the second, in the device's time zone, with the zone's name."""
    if moment is None:
        return "an unknown time"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    local = when.astimezone()
    today = datetime.now(local.tzinfo).date()
    day = "" if local.date() == today else local.strftime("%-d %b %Y ")
    return f"{day}{local:%H:%M:%S} {local.tzname()}"


def day(text: str | None) -> str:
    """A date for people, as UK readers write it: 13 Oct 1968."""
    if not text:
        return "Not known"
    try:
        return date.fromisoformat(text).strftime("%-d %b %Y")
    except ValueError:
        return text


def refusal(code: str, detail: object, message: str) -> str:
    """A refusal as a sentence saying what to do next."""
    facts = dict(detail) if isinstance(detail, dict) else {}
    if facts.get("locked_until"):
        facts["locked_until"] = shown(str(facts["locked_until"]))
        if code == "invalid_pin":
            code = "pin_locked_out"
    facts.setdefault("message", message.rstrip("."))
    facts.setdefault("locked_until", "later")
    sentence = REFUSALS.get(code, FALLBACK)
    if code == "invalid_pin" and facts.get("attempts_remaining") is not None:
        left = int(facts["attempts_remaining"])
        sentence += f" {left} {'try' if left == 1 else 'tries'} left before the PIN locks."
    return sentence.format_map(_Default(facts))


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def lock_reason(last_lock: dict[str, str] | None) -> str | None:
    """Why the secure side last locked, in words, or None if it has not."""
    if last_lock is None:
        return None
    reason, at = last_lock["reason"], shown(last_lock["at"])
    if reason.startswith("command "):  # IT's wipe_secure_side (or wipe_device) command
        return WIPED_BY_IT.format(at=at)
    return LOCKS.get(reason, "The secure side locked at {at}.").format(at=at)


def standing(status: dict[str, Any]) -> tuple[str, str, str]:
    """The device's standing: (tone, headline, what it means), from what the agent knows."""
    if status.get("wiped_at"):
        return "bad", "Wiped", f"IT wiped this device at {shown(status['wiped_at'])}."
    refused = status.get("last_refusal") or {}
    if refused.get("code") == "device_reported_lost":
        return "bad", "Reported lost", "IT must mark this device found before it opens again."
    if refused.get("code") in ("device_non_compliant", "device_leaving_service", "device_cloned"):
        return "bad", "Blocked", refusal(refused["code"], None, str(refused.get("message", "")))
    last = status.get("last_lock") or {}
    if last.get("reason", "").startswith("command ") or last.get("reason") in (
        "key_destroyed_by_server",
        "certificate_revoked",
        "device_not_active",
    ):
        return "bad", "Secure side wiped", lock_reason(status["last_lock"]) or ""
    if status.get("unreachable_since"):
        since = shown(status["unreachable_since"])
        last_seen = status.get("last_checkin")
        known = f" Last in touch at {shown(last_seen)}." if last_seen else ""
        offline_until = status.get("offline_until")
        allowed = (
            f" Offline use allowed until {shown(offline_until)}."
            if offline_until
            else " Offline use is not allowed."
        )
        return "warn", "Offline", f"No contact with the server since {since}.{known}{allowed}"
    if status.get("last_checkin"):
        return _compliance(status.get("standing") or {}, shown(status["last_checkin"]))
    return "warn", "Not checked in yet", "The device has not reached the server since it started."


def _compliance(standing: dict[str, Any], checked: str) -> tuple[str, str, str]:
    """The standing the server gave at the last check-in (at `checked`)."""
    problems = "; ".join(standing.get("problems") or [])
    status = standing.get("status")
    if status == "in_grace":
        until = shown(standing.get("grace_until"))
        return (
            "warn",
            f"In grace until {until}",
            f"Fix this before then, or the secure side will not open: {problems}. "
            f"Checked at {checked}.",
        )
    if status == "non_compliant":
        return "bad", "Blocked", f"The secure side will not open: {problems}. Contact IT."
    if status in ("compliant", "incompatible"):
        return "good", "Compliant", f"Checked in with the server at {checked}; nothing blocks it."
    return "good", "In service", f"Checked in with the server at {checked}."
