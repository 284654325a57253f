"""How a test reads a console page as a person would: an element's markup, the text a
reader copies from it, and counts whose noun does not agree."""

from __future__ import annotations

import html
import re

TAG = re.compile(r"<[^>]+>")
# "1 transactions", "1 devices": a count of one with a plural noun.
ONE_MANY = re.compile(
    r"\b1 (transactions|devices|events|hashes|days|flags|commands|steps|seconds|hours)\b"
)


def copied(markup: str) -> str:
    """What a reader copies from this markup: its text, tags gone, entities read."""
    return html.unescape(TAG.sub("", markup))


def element(page: str, tag: str, attribute: str) -> str:
    """The inner markup of the first `tag` carrying `attribute` (`id="x"`, `data-leaf`)."""
    found = re.search(rf"<{tag}\b[^>]*\b{attribute}[^>]*>(.*?)</{tag}>", page, flags=re.S)
    assert found, f"no <{tag} {attribute}>"
    return found.group(1)


def text_of(page: str) -> str:
    """The page's words: tags gone, spaces collapsed."""
    return re.sub(r"\s+", " ", copied(page.split("<main", 1)[1]))


def one_of_many(page: str) -> list[str]:
    """Each count of one on the page that goes with a plural noun."""
    return ONE_MANY.findall(text_of(page))
