"""Identifiers on a page: long hex in groups, and exact JSON bytes that wrap only between
their tokens. Each copies exactly as it is stored: the gaps and the places a line may break
are markup (`<wbr>`, a margin), never characters added to the text."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

HEX = re.compile(r"[0-9a-fA-F]{16,}")  # digests, fingerprints, subject keys
GROUP = 4  # hex digits to a group, as fingerprints are usually shown
WHOLE_UP_TO = 72  # a JSON string this long (quotes included) without a space never breaks


def grouped(value: object) -> Markup:
    """A long hex value in groups of four digits that wrap only between groups; any other
    value as it is."""
    text = str(value)
    if not HEX.fullmatch(text):
        return escape(text)
    groups = (text[i : i + GROUP] for i in range(0, len(text), GROUP))
    inner = Markup("<wbr>").join(Markup("<span>{}</span>").format(group) for group in groups)
    return Markup('<span class="hex">{}</span>').format(inner)


def _string_end(text: str, start: int) -> int:
    """Where the JSON string opening at `start` ends (after its closing quote)."""
    at = start + 1
    while at < len(text) and text[at] != '"':
        at += 2 if text[at] == "\\" else 1
    return min(at + 1, len(text))


def json_bytes(text: str) -> Markup:
    """JSON text exactly as it is, for a box that wraps: a line may break after a comma, a
    colon or an opening bracket between tokens; a string without a space stays whole (up to
    `WHOLE_UP_TO`), so ids, hashes, times and dotted names never break mid-word."""
    out: list[Markup] = []
    at = 0
    while at < len(text):
        if text[at] == '"':
            end = _string_end(text, at)
            token = text[at:end]
            whole = len(token) <= WHOLE_UP_TO and not any(char.isspace() for char in token)
            out.append(
                Markup('<span class="nowrap">{}</span>').format(token) if whole else escape(token)
            )
            at = end
            continue
        out.append(escape(text[at]))
        if text[at] in ",:{[":
            out.append(Markup("<wbr>"))
        at += 1
    return Markup("").join(out)
