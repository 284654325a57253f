"""IT's policy pages read as people read them: a diff as numbered lines marked removed or
added in words (not colour alone), headed by the two versions, who saved them and when; and
the editor's problems placed on the lines of the text as typed."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from mdm_server.console.diffs import Folded, Line, counts, line_diff
from tests.console.conftest import Browser
from tests.console.test_plain_words import TIME, in_words

POLICY_V1 = """\
name: patrol
description: Patrol handsets
device:
  warranty_bit_must_be_zero: true
"""
POLICY_V2 = """\
name: patrol
device:
  warranty_bit_must_be_zero: true
  encryption_required: true
"""


def rows_of(page: str) -> list[tuple[str, str, str, str]]:
    """The diff table's rows: (older line, newer line, change in words, text)."""
    table = page.split('<table class="diff" data-diff>', 1)[1].split("</table>", 1)[0]
    found = []
    for row in re.findall(r"<tr class=\"diff-[a-z]+\"[^>]*>(.*?)</tr>", table, flags=re.S):
        found_cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in found_cells]
        found.append((cells[0].strip(), cells[1].strip(), cells[2].strip(), cells[3]))
    return found


class TestLineDiff:
    def test_each_line_has_its_numbers_in_both_versions_and_its_change(self) -> None:
        rows = line_diff(POLICY_V1, POLICY_V2)
        assert rows == [
            Line(1, 1, "unchanged", "name: patrol"),
            Line(2, None, "removed", "description: Patrol handsets"),
            Line(3, 2, "unchanged", "device:"),
            Line(4, 3, "unchanged", "  warranty_bit_must_be_zero: true"),
            Line(None, 4, "added", "  encryption_required: true"),
        ]
        assert counts(rows) == {"removed": 1, "added": 1, "unchanged": 3}

    def test_unchanged_stretches_far_from_a_change_are_folded_to_a_count(self) -> None:
        older = "".join(f"line {n}\n" for n in range(1, 21))
        newer = older.replace("line 10\n", "line ten\n")
        rows = line_diff(older, newer, context=2)
        assert rows[0] == Folded(7) and rows[-1] == Folded(8)
        assert Line(10, None, "removed", "line 10") in rows
        assert Line(None, 10, "added", "line ten") in rows

    def test_the_same_text_has_no_rows(self) -> None:
        assert line_diff(POLICY_V1, POLICY_V1) == []


class TestThePolicyDiffPage:
    def test_the_diff_is_a_table_of_numbered_lines_marked_in_words_under_both_versions(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        browser.post("/console/policies", {"text": POLICY_V1, "comment": "first"})
        browser.post("/console/policies", {"text": POLICY_V2, "comment": "encrypt"})
        page = browser.get("/console/policies/patrol?version=2&base=1").text
        assert '<h2 id="changes">Changes from v1 to v2</h2>' in page
        heading = page.split('<dl class="facts diff-versions">', 1)[1].split("</dl>", 1)[0]
        said = in_words(f"<main>{heading}")
        who = browser.user.username
        assert re.search(rf"From v1, saved {TIME.pattern} by {who}: first", said), said
        assert re.search(rf"To v2 \(current\), saved {TIME.pattern} by {who}: encrypt", said)
        assert rows_of(page) == [
            ("1", "1", "unchanged", "name: patrol"),
            ("2", "", "- removed", "description: Patrol handsets"),
            ("3", "2", "unchanged", "device:"),
            ("4", "3", "unchanged", "  warranty_bit_must_be_zero: true"),
            ("", "4", "+ added", "  encryption_required: true"),
        ]
        text = in_words(page)
        assert "1 line removed, 1 line added." in text
        assert "@@" not in text and "+++" not in text and "---" not in text


UNKNOWN_SETTING = "name: draft\ndevice:\n  warranty_bits: 0\n"


class TestTheEditorMarksTheLine:
    def check(self, browser: Browser, text: str) -> str:
        answer = browser.client.post(
            "/console/policies/validate",
            data={"text": text},
            headers={"X-CSRF-Token": browser.csrf, "HX-Request": "true"},
        )
        assert answer.status_code == 200
        return str(answer.text)

    def test_the_offending_line_is_marked_with_its_problem_beside_it(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        fragment = self.check(browser, UNKNOWN_SETTING)
        assert 'data-check="invalid"' in fragment
        marked = re.findall(r'<tr id="line-(\d+)"( class="source-bad")?', fragment)
        assert marked == [("1", ""), ("2", ""), ("3", ' class="source-bad"')]
        bad = fragment.split('data-bad-line="3">', 1)[1].split("</tr>", 2)
        assert '<code class="source-text">  warranty_bits: 0</code>' in bad[0]
        beside = in_words(f"<main>{bad[1]}")
        assert "Problem on line 3: device.warranty_bits is not a setting Tabard knows" in beside
        assert '<a href="#line-3">Line 3</a>' in fragment  # the list leads to the line

    def test_a_yaml_error_is_marked_on_its_line(self, browser_for: Callable[..., Browser]) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        fragment = self.check(browser, "name: ok\ndevice: [unclosed\n")
        assert 'data-bad-line="' in fragment
        assert "not valid YAML" in fragment

    def test_saving_a_text_with_problems_keeps_what_was_typed_and_marks_the_line(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        browser.get("/console/policies")
        saved = browser.post("/console/policies", {"text": UNKNOWN_SETTING, "comment": "try"})
        assert saved.status_code == 422
        kept = re.search(r"<textarea[^>]*>\n(.*?)</textarea>", saved.text, flags=re.S)
        assert kept is not None and html.unescape(kept.group(1)) == UNKNOWN_SETTING
        assert 'aria-invalid="true"' in saved.text
        assert 'value="try"' in saved.text
        assert 'data-bad-line="3"' in saved.text
        assert nav_labels(saved.text)[0] == "Fleet"  # still the console, not an error page


def nav_labels(page: str) -> list[str]:
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r">([^<>]+)</a>", nav)
