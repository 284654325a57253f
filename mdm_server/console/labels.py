"""What the console calls the keys and codes that events, receipts and flags store: labels
in words for their keys (`collar_number` is "Collar number"), and words for the values that
are codes (`person_search` is "person search"). The stored values stay the evidence: ids,
hashes, names and free text are shown exactly as stored, and every event page also shows
its exact bytes."""

from __future__ import annotations

import re

from mdm_server.auth.roles import role_name
from mdm_server.secure.officer_view import OFFICER_ACTIONS

# Keys whose plain rewording would say less than people need.
FIELD_LABELS: dict[str, str] = {
    "connector": "Records connector",
    "device_compliance": "Device compliance at the time",
    "subject": "Subject searched",
    "subject_keys": "Subject keys (hashed)",
    "session_id": "Secure-side session",
    "container_key_id": "Container key",
    "key_id": "Container key",
    "offline_until": "Offline use allowed until",
    "policy_text_version": "Appropriate-use policy version",
    "transaction_event_id": "Transaction's event id",
    "held_by_event_id": "Held by event id",
    "sessions_ended": "Secure sessions ended",
    "was_open": "Secure side was open",
    "was_locked": "Was locked out",
    "removed_user": "Removed Android user",
    "uses": "Devices that may enrol",
    "uses_allowed": "Devices that may enrol",
    "uses_count": "Devices enrolled",
    "from": "From",
    "to": "To",
}
# Words that are abbreviations, written as people write them.
_ACRONYMS = {
    "id": "id",
    "ids": "ids",
    "ip": "IP",
    "imei": "IMEI",
    "url": "URL",
    "pin": "PIN",
    "ca": "CA",
    "sdk": "SDK",
    "apk": "APK",
    "sha256": "SHA-256",
    "csr": "CSR",
    "jti": "JTI",
    "knox": "Knox",
    "android": "Android",
    "usb": "USB",
    "qr": "QR",
}
# Keys whose values are codes Tabard writes (never free text typed by a person), shown in words.
CODE_FIELDS = frozenset(
    {
        "type",
        "device_compliance",
        "compliance",
        "status",
        "state",
        "rule",
        "severity",
        "scope",
        "enforcement",
        "via",
        "cause",
        "mode",
        "management_mode",
        "decision",
        "result",
        "kind",
    }
)
_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def field_label(key: object) -> str:
    """A stored key as a label: `device_serial` is "Device serial", `source_ip` is
    "Source IP"."""
    name = str(key)
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    words = [_ACRONYMS.get(word, word) for word in name.split("_") if word]
    if not words:
        return name
    first = words[0]
    words[0] = first if first in _ACRONYMS.values() else first[:1].upper() + first[1:]
    return " ".join(words)


def code_words(value: object) -> str:
    """A code (`non_compliant`, `person_search`) in words; anything else as it is."""
    text = str(value)
    return text.replace("_", " ") if _CODE.match(text) else text


def field_value(key: object, value: object) -> object:
    """A stored value as shown beside its label: codes in words, roles as people say
    them, outcomes (`refused:purpose_not_allowed`) as "refused: purpose not allowed";
    everything else unchanged, for the page to show as it is."""
    name = str(key)
    if not isinstance(value, str):
        return value
    if name == "role":
        return role_name(value).one
    if name == "outcome":
        kind, _, why = value.partition(":")
        return f"{code_words(kind)}: {code_words(why)}" if why else code_words(kind)
    if name in CODE_FIELDS or (name == "reason" and _CODE.match(value)):
        return code_words(value)
    return value


def action_words(action: str) -> str:
    """An audit action in words: "Person search", "Entered the secure side", and for the
    rest the action's own parts ("Command: requested")."""
    known = OFFICER_ACTIONS.get(action)
    if known is not None:
        return known[:1].upper() + known[1:]
    domain, _, rest = action.rpartition(".")
    if not domain:
        return code_words(action).capitalize()
    area = code_words(domain.replace(".", " ")).capitalize()
    return f"{area}: {code_words(rest)}"


def actor_words(actor_type: str | None, role: str | None) -> str:
    """Who an event's actor was, in words: "officer", "IT administrator", "device",
    "the server"."""
    if actor_type == "staff" and role:
        return role_name(role).one
    if actor_type == "system":
        return "the server"
    return code_words(actor_type or "unknown")
