"""Subject keys: the opaque names under which the people, vehicles and incidents a transaction
touched are indexed, searched and matched by the appropriate-use rules (docs/audit.md).

A key is HMAC-SHA256 over a normalised description (`person|smith|john|1980-01-01`,
`vehicle|AB12CDE`, `incident|INC-1`) under a key derived from the server master key, cut to
128 bits and written as hex. The same person searched twice gets the same key, so an auditor can
find every search for them and the rules can compare against the staff directory, while the
index, the flags and the directory hold no name. Without the master key a key cannot be
tested against a guess.

A person gets one key per level of detail the search gave: surname; surname and forename;
surname, forename and date of birth. An auditor searching for "Smith" finds every search that
named Smith, however much more it gave. A directory entry (an officer's own record, a declared
association, a protected person) is keyed by name and, when known, by name and date of birth,
so that a search by name alone matches it: a lead for a reviewer, never a verdict."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import date

from mdm_server.validation import name_key

KEY_PURPOSE = b"tabard/audit/subject-key/v1"
KEY_HEX_CHARS = 32  # 128 bits


def _name(value: str) -> str:
    """Names the same way on write (a transaction, a directory entry) as on search."""
    return name_key(value)


def registration(value: str) -> str:
    """A registration mark as the index holds it: upper case, no spaces."""
    return "".join(value.split()).upper()


class SubjectKeys:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "SubjectKeys(<hidden>)"

    def _of(self, *parts: str) -> str:
        text = "|".join(parts).encode("utf-8")
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]

    def person(
        self, surname: str, forename: str | None = None, date_of_birth: date | str | None = None
    ) -> list[str]:
        """The keys of a person described to this level of detail, least detail first. A date
        of birth without a forename adds nothing (no key has that shape)."""
        keys = [self._of("person", _name(surname))]
        if forename:
            keys.append(self._of("person", _name(surname), _name(forename)))
            if date_of_birth:
                born = (
                    date_of_birth.isoformat() if isinstance(date_of_birth, date) else date_of_birth
                )
                keys.append(self._of("person", _name(surname), _name(forename), born))
        return keys

    def known_person(
        self, surname: str, forename: str, date_of_birth: date | str | None = None
    ) -> list[str]:
        """The keys a directory entry is matched by: name, and name with date of birth."""
        return self.person(surname, forename, date_of_birth)[1:]

    def vehicle(self, mark: str) -> str:
        return self._of("vehicle", registration(mark))

    def incident(self, reference: str) -> str:
        return self._of("incident", reference.strip().upper())


def unique(keys: Iterable[str]) -> list[str]:
    """Sorted, each once: how an event's detail lists them."""
    return sorted(set(keys))
