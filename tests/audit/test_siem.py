"""The SIEM feed: RFC 5424 messages carrying each event's sequence number and leaf hash, a
cursor that moves only when the collector took a batch, and the settings that name one.
A real rsyslog receives the feed in tests/e2e/test_siem.py."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from mdm_server.audit import siem
from mdm_server.config import Settings
from mdm_server.db import Database
from tabard.cli import app as cli
from tests.audit.log import NOW, write_events
from tests.conftest import make_settings
from tests.support import audit_events

# RFC 5424 section 6: HEADER SP STRUCTURED-DATA SP MSG, for the one SD-ELEMENT we send.
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) - (?P<msgid>\S+) "
    r'\[tabard@32473 seq="(?P<seq>\d+)" leaf="(?P<leaf>[0-9a-f]{64})" action="(?P<action>[^"]*)"\] '
    r"\ufeff(?P<msg>.*)$",
    re.DOTALL,
)


class Recording:
    """A collector that keeps what it is sent and refuses while `down`."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.down = False

    def send(self, events: Sequence[siem.Outgoing]) -> None:
        if self.down:
            raise siem.SiemError("cannot connect to 127.0.0.1:6514: Connection refused")
        self.batches.append([event.seq for event in events])

    @property
    def seqs(self) -> list[int]:
        return [seq for batch in self.batches for seq in batch]


def settings_for(tmp_path: Path, url: str | None) -> Settings:
    return make_settings(tmp_path / "data", siem_url=url)


class TestMessage:
    def test_a_message_is_rfc_5424_with_the_seq_leaf_hash_and_canonical_event(
        self, committed_database: Database
    ) -> None:
        write_events(committed_database, 1)
        (event,) = audit_events(committed_database)
        sent = siem.outgoing(event)
        message = siem.syslog_message(sent, "mdm.force.example").decode()
        parts = RFC5424.match(message)
        assert parts, message
        assert int(parts["pri"]) == 13 * 8 + 6  # log audit, informational
        assert parts["host"] == "mdm.force.example" and parts["app"] == "tabard"
        assert int(parts["seq"]) == event.seq and parts["action"] == event.action
        assert parts["msg"] == event.canonical
        assert parts["leaf"] == hashlib.sha256(b"\x00" + event.canonical.encode()).hexdigest()
        assert parts["time"].endswith("Z")

    def test_frames_are_octet_counted(self) -> None:
        assert siem.framed("é".encode()) == b"2 \xc3\xa9"

    def test_structured_data_values_are_escaped(self) -> None:
        assert siem._sd_value('a"b\\c]d') == 'a\\"b\\\\c\\]d'


class TestCursor:
    def test_every_event_once_in_order_in_batches(
        self, committed_database: Database, tmp_path: Path
    ) -> None:
        write_events(committed_database, 7)
        collector = Recording()
        done = siem.forward(committed_database, collector, target="t", batch=3, now=NOW)
        assert collector.batches == [[1, 2, 3], [4, 5, 6], [7]]
        assert (done.sent, done.last_seq, done.error) == (7, 7, None)
        again = siem.forward(committed_database, collector, target="t", batch=3, now=NOW)
        assert again.sent == 0 and collector.seqs == [1, 2, 3, 4, 5, 6, 7]

    def test_a_collector_that_was_down_gets_everything_after_the_cursor(
        self, committed_database: Database, tmp_path: Path
    ) -> None:
        settings = settings_for(tmp_path, "syslog+tls://127.0.0.1:6514")
        target = siem.display(settings.siem_url or "")
        collector = Recording()
        write_events(committed_database, 2)
        siem.forward(committed_database, collector, target=target, batch=10, now=NOW)
        collector.down = True
        write_events(committed_database, 3, start=2)
        failed = siem.forward(committed_database, collector, target=target, batch=10, now=NOW)
        assert failed.error and "Connection refused" in failed.error and failed.sent == 0
        later = NOW + timedelta(hours=1)
        siem.forward(committed_database, collector, target=target, batch=10, now=later)
        with committed_database.unit_of_work(write=False) as session:
            down = siem.status(session, settings)
        assert down is not None
        assert (down.last_seq, down.head, down.backlog) == (2, 5, 3)
        assert down.failing_since == NOW  # since the first failure, not the latest
        assert down.last_error and "Connection refused" in down.last_error
        collector.down = False
        siem.forward(committed_database, collector, target=target, batch=2, now=later)
        assert collector.seqs == [1, 2, 3, 4, 5]
        with committed_database.unit_of_work(write=False) as session:
            up = siem.status(session, settings)
        assert up is not None
        assert (up.backlog, up.failing_since, up.last_error) == (0, None, None)
        assert up.delivered_at == later

    def test_no_feed_no_status(self, committed_database: Database, tmp_path: Path) -> None:
        with committed_database.unit_of_work(write=False) as session:
            assert siem.status(session, settings_for(tmp_path, None)) is None


class Collected(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[dict[str, str], bytes]] = []
    answer = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collected.bodies.append((dict(self.headers), body))
        self.send_response(Collected.answer)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_collector() -> Iterator[str]:
    Collected.bodies, Collected.answer = [], 204
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collected)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ingest"
    server.shutdown()
    thread.join()


class TestHttpCollector:
    def test_json_lines_with_seq_and_leaf_hash_and_the_token(
        self, committed_database: Database, http_collector: str
    ) -> None:
        write_events(committed_database, 3)
        collector = siem.HttpCollector(http_collector, ca_file=None, token="soc-ingest-token")
        siem.forward(committed_database, collector, target="h", batch=10, now=NOW)
        ((headers, body),) = Collected.bodies
        assert headers["Authorization"] == "Bearer soc-ingest-token"
        assert headers["Content-Type"] == "application/x-ndjson"
        assert headers["X-Tabard-Seq"] == "1-3"
        lines = [json.loads(line) for line in body.decode().splitlines()]
        events = audit_events(committed_database)
        assert [line["seq"] for line in lines] == [1, 2, 3]
        for line, event in zip(lines, events, strict=True):
            assert line["canonical"] == event.canonical
            expected = hashlib.sha256(b"\x00" + event.canonical.encode()).hexdigest()
            assert line["leaf_hash"] == expected
            assert line["event"] == json.loads(event.canonical)

    def test_a_refusal_keeps_the_cursor(
        self, committed_database: Database, http_collector: str
    ) -> None:
        write_events(committed_database, 2)
        Collected.answer = 503
        collector = siem.HttpCollector(http_collector, ca_file=None, token=None)
        done = siem.forward(committed_database, collector, target="h", batch=10, now=NOW)
        assert done.error == "http://127.0.0.1:{}/ingest answered 503".format(
            http_collector.split(":")[2].split("/")[0]
        )
        assert done.last_seq == 0 and "Authorization" not in Collected.bodies[0][0]
        Collected.answer = 200
        assert siem.forward(committed_database, collector, target="h", batch=10, now=NOW).sent == 2


class TestSettings:
    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("udp://siem:514", "must be syslog+tls://HOST:PORT"),
            ("syslog+tls://siem", "a syslog collector is HOST:PORT"),
            ("syslog+tcp://siem:514/x", "a syslog collector is HOST:PORT"),
            ("https://user:pw@siem/ingest", "must not carry credentials"),
            ("siem.force.example:6514", "must be syslog+tls://HOST:PORT"),
        ],
    )
    def test_a_bad_collector_url_says_what_to_write(self, url: str, says: str) -> None:
        with pytest.raises(ValidationError, match=re.escape(says)):
            Settings(siem_url=url)

    def test_the_refusal_of_credentials_does_not_repeat_them(self) -> None:
        """`tabard serve` prints each error's message (mdm_server.cli.server.load_settings)."""
        with pytest.raises(ValidationError) as refused:
            Settings(siem_url="https://user:s3cret-pw@siem/ingest")
        assert all("s3cret-pw" not in error["msg"] for error in refused.value.errors())

    def test_the_display_url_has_no_query(self) -> None:
        assert (
            siem.display("https://siem.example:8443/in?key=abc") == "https://siem.example:8443/in"
        )


class TestStatusCommand:
    @pytest.fixture
    def runner(
        self, committed_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> CliRunner:
        url = committed_database.engine.url.render_as_string(hide_password=False)
        monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("TABARD_DATABASE_URL", url)
        return CliRunner()

    def test_without_a_feed_it_says_how_to_set_one_up(self, runner: CliRunner) -> None:
        result = runner.invoke(cli, ["siem", "status"])
        assert result.exit_code == 1
        assert "no SIEM feed is set up: set TABARD_SIEM_URL" in " ".join(result.stderr.split())

    def test_a_failing_feed_shows_its_backlog_and_why(
        self,
        runner: CliRunner,
        committed_database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("TABARD_SIEM_URL", "syslog+tls://127.0.0.1:6514")
        write_events(committed_database, 4)
        collector = Recording()
        collector.down = True
        target = "syslog+tls://127.0.0.1:6514"
        siem.forward(committed_database, collector, target=target, batch=10, now=NOW)
        shown = runner.invoke(cli, ["siem", "status", "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["failing_since"].startswith(NOW.date().isoformat())
        assert json.loads(shown.stdout) | {"failing_since": None} == {
            "target": target,
            "last_seq": 0,
            "head": 4,
            "backlog": 4,
            "delivered_at": None,
            "failing_since": None,
            "last_error": "cannot connect to 127.0.0.1:6514: Connection refused",
        }
        words = runner.invoke(cli, ["siem", "status"]).stdout
        assert "failing since" in words and "Connection refused" in words
