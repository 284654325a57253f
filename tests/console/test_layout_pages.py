"""Auditors' pages at 800 px as at 1400: the results table narrow enough to fit, with each
action in words, and identifiers that never break mid-word yet copy exactly: an event's leaf
bytes, a flag's subject key, the witness command."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit import checkpoints
from tests.console.conftest import Browser, checkpoint
from tests.console.reading import copied, element, one_of_many, text_of
from tests.factories.staff import headers_for
from tests.server.test_appropriate_use import SAM, load, own, queue
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene


class TestAuditSearch:
    def test_results_fit_with_the_action_in_words_and_its_code_at_hand(
        self, scene: Scene, browser_for: Callable[..., Browser]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        found = browser_for("auditor").get(
            f"/console/audit?officer={scene.officer.collar_number}&type=person_search"
        )
        results = element(found.text, "table", 'id="results"')
        headings = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', results)
        assert headings == ["Event", "Time", "Action", "Who", "Subject", "Outcome"]
        action = re.search(
            r'<span title="transaction.person_search" data-action="transaction.person_search">'
            r"Person search</span><br><span class=\"small\">for INVESTIGATION</span>",
            results,
        )
        assert action, results
        assert "<wbr>" not in results  # nothing breaks at a dot
        assert "1 event on this page" in text_of(found.text)


class TestAuditEvent:
    def test_the_leaf_bytes_copy_exactly_and_break_only_between_tokens(
        self, app: FastAPI, client: TestClient, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        checkpoint(app)
        seq = 1
        page = browser.get(f"/console/audit/events/{seq}").text
        leaf = element(page, "pre", "data-leaf")
        api = client.get(f"/api/v1/audit/events/{seq}", headers=headers_for(app, "auditor"))
        assert api.status_code == 200, api.text
        exact = base64.b64decode(api.json()["canonical"]).decode("utf-8")
        assert copied(leaf) == exact
        assert all(before in ",:{[" for before in re.findall(r"(.)<wbr>", leaf))
        event_id = api.json()["event"]["id"]
        assert f'<span class="nowrap">&#34;{event_id}&#34;</span>' in leaf
        assert not one_of_many(page)


class TestFlag:
    def test_the_subject_hash_is_grouped_in_fours_and_copies_exactly(
        self,
        scene: Scene,
        client: TestClient,
        app: FastAPI,
        browser_for: Callable[..., Browser],
    ) -> None:
        api = headers_for(app, "auditor")
        token = str(scene.first_entry()["session_token"])
        load(client, api, own(scene.officer.collar_number, own=[SAM]))
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        (flag,) = queue(client, api)
        page = browser_for("auditor").get(f"/console/flags/{flag['id']}").text
        subject = flag["detail"]["subject"]
        shown = re.search(r"<dt>Subject \(hashed key\)</dt><dd>(.*?)</dd>", page)
        assert shown, page
        assert shown.group(1).startswith('<span class="hex"><span>')
        assert re.findall(r"<span>([0-9a-f]{4})</span>", shown.group(1)) == re.findall(
            r".{4}", subject
        )
        assert copied(shown.group(1)) == subject
        assert "Evidence (1 transaction)" in page


class TestCheckpoints:
    def test_the_witness_command_is_one_line_to_copy_exactly(
        self, app: FastAPI, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        checkpoint(app)
        page = browser.get("/console/audit/checkpoints").text
        box = re.search(
            r'<div class="command">\s*<pre tabindex="0" id="witness-command"[^>]*><code>(.*?)'
            r'</code></pre>\s*<button type="button" class="secondary noprint" '
            r'data-copy="witness-command" hidden>Copy</button>',
            page,
        )
        assert box, page
        expected = "tabard audit witness --server http://testserver --state DIR"
        assert copied(box.group(1)) == expected  # copied exactly
        words = re.findall(r'<span class="nowrap">([^<]*)</span>', box.group(1))
        assert words == expected.split(" ")  # each whole: it breaks only between them

    def test_a_consistent_witness_is_told_in_words_that_agree(
        self, app: FastAPI, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        checkpoint(app)
        held = browser.client.get("/api/v1/audit/checkpoint").text
        browser.get("/console/audit/checkpoints")
        same = browser.post("/console/audit/checkpoints/witness", {"note": held})
        said = re.search(r'data-witness="consistent">([^<]+)<', same.text)
        assert said, same.text
        told = html.unescape(said.group(1))
        exactly = r"Consistent: the log has exactly the witness's (1 event|[\d,]+ events),"
        assert re.match(exactly, told), told
        assert "nothing has been added since" in told and "0 hashes" not in told

    def test_after_a_key_change_the_earlier_key_is_listed_and_its_checkpoints_still_check(
        self, app: FastAPI, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        checkpoint(app)
        held = browser.client.get("/api/v1/audit/checkpoint").text  # by the old key
        context = app.state.context
        rotated = checkpoints.rotate_key(
            context.database,
            keys=context.keys,
            signer=context.checkpoint_signer(),
            data_dir=context.settings.data_dir,
            now=context.clock(),
        )
        page = browser.get("/console/audit/checkpoints").text
        listed = element(page, "table", "data-key-changes")
        assert f">{rotated.seq}</a>" in listed
        assert rotated.old_key.split("+")[1] in listed and rotated.new_key.split("+")[1] in listed
        assert "The checkpoint key changed 1 time." in text_of(page)
        checked = browser.post("/console/audit/checkpoints/witness", {"note": held})
        said = re.search(r'data-witness="consistent">([^<]+)<', checked.text)
        assert said, checked.text
        assert "signed with the log's earlier key" in html.unescape(said.group(1))
