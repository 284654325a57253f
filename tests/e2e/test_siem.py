"""The SIEM feed end to end: `tabard serve` forwards every audit event to a real rsyslog on
loopback, over TCP and over TLS with a test CA. The collector is stopped mid-run and started
again: afterwards it holds every event of the run exactly once, in order, each with the
sequence number and leaf hash that match the log."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents import audit_trail
from tests.e2e.harness import Tabard
from tests.e2e.rsyslog import Rsyslog
from tests.factories.tls import loopback_server
from tests.support import wait_for

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
SD = re.compile(r'\[tabard@32473 seq="(\d+)" leaf="([0-9a-f]{64})" action="[^"]*"\] \ufeff(.*)$')


def received(collector: Rsyslog) -> list[tuple[int, str, str]]:
    """(seq, leaf hash, canonical event) of every message the collector wrote, in order."""
    found = []
    for line in collector.messages():
        match = SD.search(line)
        assert match, line
        found.append((int(match[1]), match[2], match[3]))
    return found


def feed_status(tabard: Tabard) -> dict[str, Any]:
    return json.loads(tabard.run("siem", "status", "--json").stdout)  # type: ignore[no-any-return]


def caught_up(tabard: Tabard, collector: Rsyslog) -> bool:
    seqs = [e.seq for e in audit_trail(tabard)]
    return [seq for seq, _, _ in received(collector)] == seqs


def some_work(tabard: Tabard, name: str) -> None:
    """Audited work: an account created and a token made."""
    tabard.run(
        "users",
        "create",
        "--username",
        name,
        "--role",
        "supervisor",
        "--division",
        "north",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    tabard.run("tokens", "create", "--group", "response", "--json")


def assert_each_event_once_in_order(tabard: Tabard, collector: Rsyslog) -> None:
    events = audit_trail(tabard)
    got = received(collector)
    assert [seq for seq, _, _ in got] == [e.seq for e in events] == list(range(1, len(events) + 1))
    for (_, leaf, canonical), event in zip(got, events, strict=True):
        assert canonical == event.canonical
        assert leaf == hashlib.sha256(b"\x00" + event.canonical.encode()).hexdigest()


class TestSiemFeed:
    def test_every_event_once_in_order_across_a_collector_outage(
        self, tabard: Tabard, tmp_path: Path
    ) -> None:
        collector = Rsyslog(tmp_path / "rsyslog")
        tabard.extra_env.update(TABARD_SIEM_URL=collector.url, TABARD_SIEM_INTERVAL_S="1")
        tabard.bootstrap("admin", PASSWORD)
        collector.start()
        try:
            with tabard.serving():
                tabard.login("admin", PASSWORD)
                some_work(tabard, "sgt-north")
                wait_for(lambda: caught_up(tabard, collector), "the collector to catch up")
                collector.stop()
                some_work(tabard, "sgt-south")
                wait_for(
                    lambda: feed_status(tabard)["failing_since"] is not None,
                    "the feed to notice the collector is down",
                )
                down = feed_status(tabard)
                collector.start()
                wait_for(lambda: caught_up(tabard, collector), "the collector to catch up again")
                up = feed_status(tabard)
                shown = tabard.run("siem", "status").stdout
        finally:
            collector.stop()
        assert down["backlog"] > 0 and "Connection refused" in down["last_error"]
        assert down["target"] == collector.url
        assert up["backlog"] == 0 and up["failing_since"] is None and up["last_error"] is None
        assert_each_event_once_in_order(tabard, collector)
        actions = [json.loads(canonical)["action"] for _, _, canonical in received(collector)]
        assert actions.count("enrolment_token.created") == 2
        assert "up to date" in shown and collector.url in shown

    def test_over_tls_to_a_collector_the_test_ca_vouches_for(
        self, tabard: Tabard, tmp_path: Path
    ) -> None:
        tls = loopback_server(tmp_path / "tls")
        collector = Rsyslog(tmp_path / "rsyslog", tls=tls)
        stranger = loopback_server(tmp_path / "stranger", ca_name="Not the SOC")
        tabard.extra_env.update(
            TABARD_SIEM_URL=collector.url,
            TABARD_SIEM_INTERVAL_S="1",
            TABARD_SIEM_CA_FILE=str(stranger.ca),
        )
        tabard.bootstrap("admin", PASSWORD)
        collector.start()
        try:
            # First trusting the wrong CA: nothing is sent, and the feed says why.
            with tabard.serving():
                tabard.login("admin", PASSWORD)
                wait_for(
                    lambda: feed_status(tabard)["last_error"] is not None,
                    "the feed to refuse the collector's certificate",
                )
            refused = feed_status(tabard)
            assert collector.messages() == []
            tabard.extra_env["TABARD_SIEM_CA_FILE"] = str(tls.ca)
            with tabard.serving():
                some_work(tabard, "sgt-north")
                wait_for(lambda: caught_up(tabard, collector), "the collector to catch up")
        finally:
            collector.stop()
        assert "certificate is not trusted" in refused["last_error"]
        assert refused["last_seq"] == 0
        assert_each_event_once_in_order(tabard, collector)
