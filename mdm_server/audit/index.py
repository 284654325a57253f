"""The search index of an event: who (the officer's collar number), which device, which
division, what kind of transaction, for what purpose and with what outcome, and the subject
keys of what it touched, taken from the event itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from mdm_server.audit.subjects import KEY_HEX_CHARS


class IndexedEvent(Protocol):
    """What the index reads of an event: the service's PendingEvent as it is written, or a
    stored event as a migration re-indexes it."""

    @property
    def seq(self) -> int: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def target_type(self) -> str | None: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def detail(self) -> Any: ...


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if isinstance(value, str) and value else None


def outcome_of(action: str, detail: Any) -> str | None:
    """A transaction's outcome as its event records it (`answered`, `refused:<code>`,
    `records_unavailable`); None for any other event."""
    if not action.startswith("transaction.") or not isinstance(detail, dict):
        return None
    return _text(detail.get("outcome"), 64)


def index_row(event: IndexedEvent) -> dict[str, Any]:
    detail = event.detail if isinstance(event.detail, dict) else {}
    device = detail.get("device_id") or (event.target_id if event.target_type == "device" else None)
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "action": event.action,
        "officer": _text(detail.get("collar_number"), 16),
        "device_id": _text(device, 64),
        "division": _text(detail.get("division"), 64),
        "transaction_type": _text(detail.get("type"), 32)
        if event.action.startswith("transaction.")
        else None,
        "purpose": _text(detail.get("purpose"), 32),
        "outcome": outcome_of(event.action, detail),
    }


def subject_rows(event: IndexedEvent) -> list[dict[str, Any]]:
    detail = event.detail if isinstance(event.detail, dict) else {}
    keys = detail.get("subject_keys")
    if not isinstance(keys, list):
        return []
    return [
        {"subject": key, "seq": event.seq}
        for key in sorted({key for key in keys if isinstance(key, str)})
        if len(key) == KEY_HEX_CHARS
    ]
