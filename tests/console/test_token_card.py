"""The enrolment token page: a card with the QR code and its facts in words, the payload a
file to download or copy, its JSON only behind a disclosure."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.console.conftest import Browser
from tests.console.reading import copied, element, one_of_many
from tests.console.test_admin_pages import payload_file
from tests.console.test_plain_words import in_words


class TestEnrolmentToken:
    def test_the_card_shows_the_qr_code_and_the_facts_in_words_with_the_json_tucked_away(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/tokens")
        page = browser.post("/console/tokens", {"group": "response", "hours": "24"}).text
        assert 'data-qr="enrolment"' in page
        assert "<dt>Enrols</dt><dd>1 device</dd>" in page
        assert "Scan it with the Tabard agent to enrol a device into the group" in page
        assert not one_of_many(page)
        card = page.split("<main", 1)[1]
        outside = re.sub(r"<details>.*?</details>", "", card, flags=re.S)
        assert "&#34;" not in outside and '{"' not in outside  # no JSON on the card itself
        in_words(f"<main{outside}")
        secret = element(page, "code", "data-secret")
        payload = payload_file(page)
        assert payload["token"] == secret  # whole, as the QR code has it
        disclosed = element(page, "pre", 'id="payload"')
        assert copied(disclosed) == (
            f'{{"server":"{payload["server"]}","token":"{secret}",'
            f'"ca_sha256":"{payload["ca_sha256"]}"}}'
        )
        assert 'data-copy="payload"' in page
        fingerprint = element(page, "dd", "data-fingerprint")
        assert copied(fingerprint) == payload["ca_sha256"]
        assert fingerprint.count("<span>") == 16  # a SHA-256 in sixteen groups of four

    def test_tokens_for_many_devices_say_up_to_how_many(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/tokens")
        page = browser.post("/console/tokens", {"group": "response", "uses": "5"}).text
        assert "<dt>Enrols</dt><dd>5 devices</dd>" in page
        assert "to enrol up to 5 devices into the group" in page
