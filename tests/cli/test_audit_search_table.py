"""`tabard audit search` as a table: a device's event shows when it happened on the device
beside when the server received it."""

from __future__ import annotations

from typing import Any

import pytest

from mdm_server.cli.audit_search import _show


def document(seq: int, action: str, time: str, **detail: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": time,
        "action": action,
        "actor": {"type": "device", "name": "R58M1234"},
        "detail": detail,
    }


def test_a_device_event_shows_both_times(capsys: pytest.CaptureFixture[str]) -> None:
    _show(
        {
            "events": [
                document(
                    2,
                    "device_event.secure.entered",
                    "2026-11-21T09:00:05.000000Z",
                    occurred_at="2026-11-21T02:47:59+00:00",
                ),
                document(1, "device.enrolled", "2026-11-20T08:00:00.000000Z"),
            ],
            "next_before": None,
        }
    )
    out = capsys.readouterr().out
    assert "on device" in out
    assert "2026-11-21 02:47:59" in out  # on the device
    assert "2026-11-21 09:00:05" in out  # received


def test_without_device_events_there_is_no_device_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _show(
        {
            "events": [document(1, "device.enrolled", "2026-11-20T08:00:00.000000Z")],
            "next_before": None,
        }
    )
    assert "on device" not in capsys.readouterr().out
