from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_server.audit import row_checks
from mdm_server.audit.canonical import (
    NotCanonicalError,
    canonical_bytes,
    encode_checked,
    timestamp,
)


class TestCanonicalJson:
    def test_sorts_keys_and_drops_whitespace(self) -> None:
        assert canonical_bytes({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'

    def test_keeps_non_ascii_as_utf8(self) -> None:
        assert canonical_bytes({"name": "Siân"}) == '{"name":"Siân"}'.encode()

    def test_is_the_same_whatever_the_insertion_order(self) -> None:
        assert canonical_bytes({"x": {"q": 1, "p": 2}, "a": 0}) == canonical_bytes(
            {"a": 0, "x": {"p": 2, "q": 1}}
        )

    @pytest.mark.parametrize("value", [1.5, float("nan"), {1: "x"}, {"a": object()}, b"raw"])
    def test_refuses_values_without_one_canonical_form(self, value: object) -> None:
        with pytest.raises(NotCanonicalError):
            canonical_bytes({"v": value})

    def test_timestamps_are_utc_with_microseconds(self) -> None:
        moment = datetime(2026, 11, 21, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
        assert timestamp(moment) == "2026-11-21T09:00:00.000005Z"
        assert timestamp(datetime(2026, 1, 1, tzinfo=UTC)).endswith("00.000000Z")


# JSON values with a canonical form: no floats, string keys; text from all of Unicode (the
# encoder must escape control characters and leave the rest, surrogates apart, as UTF-8).
_text = st.text(st.characters(exclude_categories=["Cs"]))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


class TestTheEncoderBuiltOnce:
    """encode_checked keeps one C encoder rather than JSONEncoder.encode's one per call: its
    bytes must be json.dumps' with the documented settings, whatever the document."""

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(_text, _json, max_size=6))
    def test_encodes_as_json_dumps_with_the_canonical_settings(
        self, document: dict[str, object]
    ) -> None:
        expected = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
        assert encode_checked(document) == expected

    def test_a_float_still_encodes_differently_from_any_canonical_text(self) -> None:
        assert encode_checked({"v": 1.5}) == b'{"v":1.5}'
        with pytest.raises(ValueError, match="Out of range float values"):
            encode_checked({"v": float("nan")})


class TestVerifyReadsJsonAsJsonLoads:
    @settings(max_examples=300, deadline=None)
    @given(_json)
    def test_decodes_what_json_loads_decodes(self, value: object) -> None:
        text = json.dumps(value, ensure_ascii=False)
        assert row_checks._json_loads(text.encode("utf-8")) == json.loads(text)

    @pytest.mark.parametrize("text", [b"", b"{", b'{"a": 1} x', b"[1,]", b"nul"])
    def test_refuses_what_json_loads_refuses(self, text: bytes) -> None:
        with pytest.raises(json.JSONDecodeError):
            row_checks._json_loads(text)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=1)), timezone(-timedelta(hours=5))]
        ),
    )
)
def test_verify_writes_a_stored_time_as_timestamp_does(moment: datetime) -> None:
    """verify's quick rebuild formats the time with isoformat; the canonical form is
    timestamp()'s strftime. The two must agree for every time a store gives back."""
    assert row_checks._canonical_time(moment) == timestamp(moment)
