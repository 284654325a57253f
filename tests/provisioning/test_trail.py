"""The audit trail of a provisioning run: events arrive in order despite a server that is
briefly away, and any that never arrive are counted, not dropped silently."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.trail import AuditTrail


class FlakyServer:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[dict[str, Any]] = []

    def post(self, events: list[dict[str, Any]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("server away")
        self.received.extend(events)


def test_events_arrive_in_order_after_the_server_comes_back() -> None:
    server = FlakyServer(failures=2)
    trail = AuditTrail(server.post)
    for step in range(1, 6):
        trail.add("step", step=step)
    assert trail.close() == 0
    assert [event["step"] for event in server.received] == [1, 2, 3, 4, 5]
    assert {event["run_id"] for event in server.received} == {str(trail.run_id)}


def test_events_that_never_arrive_are_counted() -> None:
    server = FlakyServer(failures=10**6)
    trail = AuditTrail(server.post)
    trail.add("step", step=1)
    trail.add("step", step=2)
    assert trail.close() == 2
    assert trail.last_error == "server away"


def test_the_start_must_be_on_record_before_anything_happens() -> None:
    trail = AuditTrail(FlakyServer(failures=1).post)
    with pytest.raises(ConnectionError):
        trail.start(devices=1)
    trail.close()


def test_without_a_server_nothing_is_sent_or_owed() -> None:
    trail = AuditTrail(None)
    trail.add("step", step=1)
    assert trail.close() == 0
