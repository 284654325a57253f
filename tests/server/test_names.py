"""People's names as UK police records hold them: accepted in any alphabet, kept in one form,
and matched the same way on write and on search (mdm_server/validation.py)."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import TypeAdapter, ValidationError

from mdm_server.validation import PersonName, name_key

NAME = TypeAdapter(PersonName)
REAL = ["Siân", "Zoë", "Ó Briain", "Łukasz", "O'Neill", "Smith-Jones", "d'Arcy", "St. John"]


class TestAccepted:
    @pytest.mark.parametrize("name", REAL)
    def test_real_names_are_accepted_as_written(self, name: str) -> None:
        assert NAME.validate_python(name) == name

    @pytest.mark.parametrize(
        ("typed", "kept"),
        [
            (unicodedata.normalize("NFD", "Siân"), "Siân"),
            ("O\u2019Neill", "O'Neill"),
            ("O\u02bcNeill", "O'Neill"),
            ("Smith\u2010Jones", "Smith-Jones"),
            ("  Ó   Briain ", "Ó Briain"),
        ],
    )
    def test_each_is_kept_in_one_form(self, typed: str, kept: str) -> None:
        assert NAME.validate_python(typed) == kept


class TestRefused:
    @pytest.mark.parametrize(
        ("typed", "says"),
        [
            ("", "at least 1 character"),
            ("   ", "must not be empty"),
            ("R2D2", "not 2"),
            ("'Neill", "begin with a letter"),
            ("Sam\x00", "not U+0000"),
            ("x" * 65, "at most 64"),
        ],
    )
    def test_what_is_no_name_is_refused_saying_why(self, typed: str, says: str) -> None:
        with pytest.raises(ValidationError) as refused:
            NAME.validate_python(typed)
        assert says in str(refused.value)


class TestMatching:
    @pytest.mark.parametrize(
        ("one", "other"),
        [
            ("Siân", unicodedata.normalize("NFD", "SIÂN")),
            ("O'Neill", "o\u2019neill"),
            ("Smith-Jones", "SMITH\u2011JONES"),
            ("Ó Briain", " ó  briain "),
            ("Straße", "STRASSE"),
        ],
    )
    def test_spellings_of_one_name_share_a_key(self, one: str, other: str) -> None:
        assert name_key(one) == name_key(other)

    def test_different_names_do_not(self) -> None:
        assert name_key("Zoë") != name_key("Zoe")
