from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mdm_server.audit.canonical import NotCanonicalError, canonical_bytes, timestamp


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
