"""Words for people on every console page: no Python (or JSON) rendering of a list or a
mapping, times to the second saying their zone, identifiers that never break mid-word."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from mdm_server.console.identifiers import grouped, json_bytes
from mdm_server.console.security import render_error
from mdm_server.console.templating import counted, dotted, noun, outcome, plain, short_id, when
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.console.reading import copied
from tests.factories.commands import delivered, open_envelope, send, sign_receipt, submit_receipt
from tests.factories.devices import SimulatedDevice
from tests.server.test_audit_search import person
from tests.server.test_policies import apply, put_policy
from tests.server.test_secure import Scene
from tests.support import audit_events

CSS = Path(__file__).parents[2] / "mdm_server" / "console" / "static" / "console.css"
# How Python (and JSON) write a list or a mapping: ['a', or {'k': or {"k":
REPR = re.compile(r"""\[['"]|\{['"]|['"]\]|['"]\}|object at 0x|<built-in""")
TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")


def in_words(page: str) -> str:
    """The page's text (outside tags, scripts and attributes), checked for Python's
    renderings; the text."""
    body = page.split("<main", 1)[1]
    body = re.sub(r"<pre[^>]*>.*?</pre>", "", body, flags=re.S)  # exact bytes, kept as such
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
    found = REPR.search(text)
    near = text[max(found.start() - 80, 0) : found.end() + 80] if found else ""
    assert found is None, f"Python on the page: {near}"
    return text


class TestFilters:
    def test_when_is_to_the_second_in_utc_and_says_so(self) -> None:
        summer = datetime(2026, 7, 1, 15, 4, 5, 999_999, tzinfo=timezone(timedelta(hours=1)))
        assert when(summer) == "2026-07-01 14:04:05 UTC"
        assert when(datetime(2026, 12, 4, 9, 30, 1)) == "2026-12-04 09:30:01 UTC"
        assert when("2026-12-04T09:30:01.123456Z") == "2026-12-04 09:30:01 UTC"
        assert when(None) == "never"

    def test_plain_writes_lists_mappings_and_flags_as_words(self) -> None:
        assert plain(["SM-J510FN", "SM-T580"]) == "SM-J510FN, SM-T580"
        assert plain({"type": "pin", "min_length": 6}) == "type: pin; min length: 6"
        assert plain({"models": ["a"], "on": True, "off": None}) == "models: a; on: yes; off: none"
        assert plain([]) == "none" and plain(False) == "no"
        assert plain(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05 UTC"

    def test_dotted_names_break_only_after_a_dot(self) -> None:
        assert dotted("transaction.person_search") == "transaction.<wbr>person_search"
        assert dotted("<b>.x") == "&lt;b&gt;.<wbr>x"

    def test_counts_in_words_agree_with_their_noun(self) -> None:
        assert counted(1, "transaction") == "1 transaction"
        assert counted(0, "transaction") == "0 transactions"
        assert counted(2_400, "hash", "hashes") == "2,400 hashes"
        assert noun(1, "device") == "device" and noun(3, "device") == "devices"

    def test_outcomes_and_short_ids(self) -> None:
        assert outcome("refused:purpose_not_allowed") == "refused: purpose not allowed"
        assert outcome("records_unavailable") == "records unavailable"
        assert short_id("0b1f6d2e-1c1e-4c53-9f7e-5a1d2b3c4d5e") == "0b1f6d2e"


class TestPages:
    def test_a_finding_expecting_a_list_reads_as_words(
        self,
        client: TestClient,
        clock: FakeClock,
        admin_headers: dict[str, str],
        browser_for: Callable[..., Browser],
        enrolled: SimulatedDevice,
    ) -> None:
        policy = {"name": "models", "device": {"allowed_models": ["SM-J510FN", "SM-T580"]}}
        assert put_policy(client, admin_headers, policy).status_code == 201
        assert apply(client, admin_headers, "fleet", "models").status_code == 200
        assert enrolled.checkin(client, now=clock()).status_code == 200
        page = browser_for("it_admin").get(f"/console/devices/{enrolled.device_id}")
        text = in_words(page.text)
        assert "SM-J510FN, SM-T580" in text
        assert TIME.search(text)  # enrolled, reported, evaluated: to the second, in UTC

    def test_a_command_shows_its_parameters_and_evidence_as_words(
        self,
        client: TestClient,
        clock: FakeClock,
        admin_headers: dict[str, str],
        browser_for: Callable[..., Browser],
        enrolled: SimulatedDevice,
    ) -> None:
        command = send(client, admin_headers, str(enrolled.device_id), "lock_device", message="x")
        (envelope,) = delivered(client, enrolled, clock)
        claims = open_envelope(client, envelope, device_id=str(enrolled.device_id), now=clock())
        assert claims["command_id"] == command["id"]
        evidence = {"locked": True, "screens": ["personal", "work"], "at": {"seconds": 2}}
        receipt = sign_receipt(
            enrolled, envelope, command_id=command["id"], now=clock(), evidence=evidence
        )
        submitted = submit_receipt(client, enrolled, command["id"], receipt, now=clock())
        assert submitted.status_code == 200, submitted.text
        page = browser_for("it_admin").get(f"/console/commands/{command['id']}")
        text = in_words(page.text)
        assert "<dt>Parameters</dt><dd><dl" in page.text and "<dd>x</dd>" in page.text
        assert "<dt>Screens</dt><dd><ul" in page.text
        assert TIME.search(text)

    def test_an_audit_event_and_the_search_read_as_words(
        self, scene: Scene, browser_for: Callable[..., Browser], database: Database
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        refused = {**person("Example", "Sam"), "purpose": "ROAD_TRAFFIC"}
        assert scene.transact(token, refused).status_code == 403
        browser = browser_for("auditor")
        officer = scene.officer.collar_number
        found = browser.get(f"/console/audit?officer={officer}&type=person_search")
        text = in_words(found.text)
        assert "refused: purpose not allowed" in text
        assert "forename: Sam; surname: Example" in text  # the canonical order
        assert len(TIME.findall(text)) >= 2  # each event's time
        seq = audit_events(database, "transaction.person_search")[0].seq
        event = browser.get(f"/console/audit/events/{seq}")
        text = in_words(event.text)
        assert "<dt>Subject searched</dt><dd><dl" in event.text
        assert TIME.search(text)

    def test_an_error_carrying_a_mapping_reads_as_words(self, app: FastAPI) -> None:
        scope = {"type": "http", "app": app, "method": "GET", "path": "/console/x"}
        request = Request({**scope, "query_string": b"", "headers": []})
        said = {"message": "SAFEGUARDING is not a purpose", "purposes": ["ROAD_TRAFFIC", "X"]}
        page = render_error(request, 403, "purpose_not_allowed", said, {})
        text = in_words(bytes(page.body).decode())
        assert "SAFEGUARDING is not a purpose (purposes: ROAD_TRAFFIC, X)" in text
        bare = render_error(request, 409, "conflict", {"devices": ["a1", "b2"]}, {})
        assert "Devices: a1, b2." in in_words(bytes(bare.body).decode())


class TestIdentifiers:
    def test_identifiers_in_tables_never_break(self) -> None:
        css = CSS.read_text()
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        kept_whole = {
            selector.strip()
            for rule in re.findall(r"([^{}]*)\{[^}]*white-space: nowrap[^}]*\}", css)
            for selector in rule.split(",")
        }
        assert {"td code", "td .mono", "td.mono", ".badge"} <= kept_whole  # "non compliant" too

    def test_long_hex_is_grouped_in_fours_and_copies_exactly(self) -> None:
        key = "81c3396e1a05481bdb85e1c832caa94d"
        shown = grouped(key)
        groups = re.findall(r"<span>([0-9a-f]+)</span>", shown)
        assert groups == ["81c3", "396e", "1a05", "481b", "db85", "e1c8", "32ca", "a94d"]
        assert shown.count("<wbr>") == len(groups) - 1  # a line breaks only between groups
        assert copied(shown) == key  # the gaps are margins, not spaces
        assert grouped("INC-2026") == "INC-2026" and grouped("<b>") == "&lt;b&gt;"
        assert grouped("a1b2c3") == "a1b2c3"  # short: as it is

    def test_json_bytes_break_only_between_tokens_and_copy_exactly(self) -> None:
        text = (
            '{"action":"transaction.person_search","id":"01a242c7-2c26-7bde-accd-8e2328ad56ef",'
            '"note":"left on the 42 bus","keys":["81c3396e1a05481bdb85e1c832caa94d"],'
            '"quote":"a\\"b<c>","seq":29}'
        )
        shown = json_bytes(text)
        assert copied(shown) == text
        for before in re.findall(r"(.)<wbr>", shown):
            assert before in ",:{["  # never inside a string
        whole = re.findall(r'<span class="nowrap">([^<]+)</span>', shown)
        assert "&#34;transaction.person_search&#34;" in whole
        assert "&#34;01a242c7-2c26-7bde-accd-8e2328ad56ef&#34;" in whole  # not at its hyphens
        assert "&#34;81c3396e1a05481bdb85e1c832caa94d&#34;" in whole
        assert not any("bus" in one for one in whole)  # prose may wrap at its spaces
        assert "<c>" not in shown


class TestTimesInFields:
    def test_every_time_field_says_it_is_utc_and_pages_are_british_english(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        for path in ("/console/audit", "/console/audit/bundle"):
            page = browser.get(path).text
            assert page.startswith('<!doctype html>\n<html lang="en-GB">')
            fields = re.findall(r'<input id="([^"]+)"[^>]*type="datetime-local"', page)
            assert fields, path
            for field in fields:
                label = re.search(rf'<label for="{field}">([^<]*)</label>', page)
                assert label is not None and "(UTC)" in label.group(1), (path, field)
