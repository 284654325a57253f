"""Field constraints shared by API schemas, so each name is validated one way everywhere."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _not_a_number(value: object) -> object:
    """Pydantic reads a number as seconds since 1970; the schema, and people, mean a date."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("must be a date and time such as 2026-11-21T09:30:00Z")
    return value


Username = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$"),
    Field(description="3 to 64 characters: lowercase letters, digits, '.', '_' or '-'."),
]
CollarNumber = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$"),
    Field(description="An officer's collar (warrant) number: up to 16 letters and digits."),
]
Division = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$"),
    Field(description="A division or command unit, up to 64 characters."),
]
GroupName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
    Field(description="A device group: lowercase letters, digits, '_' or '-', up to 64."),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]

# What people's names hold, and the marks keyboards and phones put in place of the plain
# apostrophe and hyphen (U+2019 for ', U+2010 for -): both spellings are one name.
_APOSTROPHES = dict.fromkeys(map(ord, "\u2019\u2018\u02bc\u02bb\u2032\u00b4\u0060\uff07"), "'")
_HYPHENS = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"), "-")
_NAME_PUNCTUATION = " '.-"
MAX_NAME_CHARS = 64


def normal_name(value: str) -> str:
    """A name as Tabard keeps and shows it: Unicode NFC (so Siân typed with a combining
    circumflex is the same text as Siân typed with â), one apostrophe, one hyphen, single
    spaces, no space at either end."""
    text = unicodedata.normalize("NFC", value).translate(_APOSTROPHES).translate(_HYPHENS)
    return " ".join(text.split())


def name_key(value: str) -> str:
    """What every spelling of one name has in common, for matching and search: the normal
    name, case-folded (ZOË, Zoë and zoë are one; Straße and STRASSE are one)."""
    return unicodedata.normalize("NFC", normal_name(value).casefold())


def _letter(ch: str) -> bool:
    return ch.isalpha() or unicodedata.category(ch).startswith("M")  # or an accent on one


def _person_name(value: str) -> str:
    text = normal_name(value)
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_NAME_CHARS:
        raise ValueError(f"must be at most {MAX_NAME_CHARS} characters")
    if not text[0].isalpha():
        raise ValueError("must begin with a letter")
    odd = next((ch for ch in text if not (_letter(ch) or ch in _NAME_PUNCTUATION)), None)
    if odd is not None:
        shown = odd if odd.isprintable() else f"U+{ord(odd):04X}"
        raise ValueError(
            f"may hold letters in any alphabet, spaces, apostrophes, hyphens and full stops, "
            f"not {shown}"
        )
    return text


def _display_name(value: str) -> str:
    text = normal_name(value)
    if not all(ch.isprintable() for ch in text):
        raise ValueError("must be printable text, without control characters")
    return text


PersonName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4 * MAX_NAME_CHARS),
    AfterValidator(_person_name),
    Field(
        description="A person's name as people write it (Siân, Zoë, Ó Briain, Łukasz, "
        "O'Neill, Smith-Jones): letters in any alphabet, spaces, apostrophes, hyphens and full "
        "stops, up to 64 characters. Kept in Unicode NFC with one kind of apostrophe and "
        "hyphen and single spaces; matched without regard to case."
    ),
]
DisplayName = Annotated[
    str,
    StringConstraints(max_length=128),
    AfterValidator(_display_name),
    Field(description="A full name to show, up to 128 characters; kept as a person's name is."),
]
Moment = Annotated[
    datetime,
    BeforeValidator(_not_a_number),
    Field(description="A date and time in ISO 8601, with its zone: 2026-11-21T09:30:00Z."),
]
