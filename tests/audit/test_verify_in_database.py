"""Verify on PostgreSQL has the database compare each event's columns with its stored canonical
text (`row_checks._check_rows_in_database`). It must find every edit that rebuilding the bytes in
Python finds (`row_checks._check_rows_here`), and agree with Python on every event written as it
should be, or the quick path would only ever be the slow one."""

from __future__ import annotations

import dataclasses
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mdm_server.audit import tree
from mdm_server.audit.row_checks import (
    SAME_IN_DATABASE,
    Chunk,
    _check_rows_here,
    _check_rows_in_database,
    check_rows,
)
from mdm_server.audit.service import Actor, record
from mdm_server.db import Database
from tests.audit.log import OFFICER, tamper, write_events


@pytest.fixture
def pg(database: Database) -> Database:
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite verify rebuilds each event's bytes in Python")
    return database


def _found(chunk: Chunk | None) -> list[tuple[int | None, str]]:
    assert chunk is not None
    return [(problem.seq, problem.kind) for problem in chunk.problems]


def _both(database: Database, low: int, high: int) -> tuple[Chunk | None, Chunk]:
    with database.unit_of_work(write=False) as session:
        return _check_rows_in_database(session, low, high), _check_rows_here(session, low, high)


def _same_in_database(database: Database, low: int, high: int) -> list[bool]:
    """The database's own verdict on each event: its columns and its text hold one document."""
    with database.unit_of_work(write=False) as session:
        rows = session.execute(
            text(
                f"SELECT {SAME_IN_DATABASE} FROM audit_events "  # noqa: S608 (fixed text)
                " WHERE seq BETWEEN :low AND :high ORDER BY seq"
            ),
            {"low": low, "high": high},
        )
        return [bool(same) for (same,) in rows]


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=12,
)
_EVENT = st.fixed_dictionaries(
    {
        "actor": st.builds(
            Actor,
            type=st.sampled_from(["staff", "device", "system", "anonymous"]),
            id=st.none() | _TEXT,
            name=st.none() | _TEXT,
            role=st.none() | _TEXT.map(lambda value: value[:16]),
            source_ip=st.none() | _TEXT,
            request_id=st.none() | _TEXT,
        ),
        "action": st.text(alphabet=string.ascii_lowercase + "._", min_size=1, max_size=30),
        "now": st.datetimes(
            min_value=datetime(1970, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.builds(
                timezone,
                st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)),
            ),
        ),
        "target": st.none() | st.tuples(_TEXT.map(lambda value: value[:16]), st.none() | _TEXT),
        "detail": st.dictionaries(_TEXT, _JSON, max_size=5),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(_EVENT, min_size=1, max_size=8))
def test_the_database_finds_every_event_written_as_it_should_be_the_same(
    pg: Database, events: list[dict[str, Any]]
) -> None:
    with pg.unit_of_work(write=False) as session:
        low = tree.size(session) + 1
    with pg.unit_of_work() as session:
        for event in events:
            target_type, target_id = event["target"] or (None, None)
            record(
                session,
                actor=event["actor"],
                action=event["action"],
                now=event["now"],
                target_type=target_type,
                target_id=target_id,
                detail=event["detail"],
            )
    high = low + len(events) - 1
    assert _same_in_database(pg, low, high) == [True] * len(events)
    quick, careful = _both(pg, low, high)
    assert quick == careful
    assert quick is not None and quick.seqs == list(range(low, high + 1))
    assert quick.problems == []


EDITS = {
    "actor_type": "actor_type = 'device'",
    "actor_id": "actor_id = 'u-8'",
    "actor_id to null": "actor_id = NULL",
    "actor_name": "actor_name = 'pc.smith'",
    "actor_role": "actor_role = 'admin'",
    "action": "action = 'transaction.other'",
    "target_type": "target_type = 'device'",
    "target_type to null": "target_type = NULL",
    "target_id": "target_id = 'p99'",
    "request_id": "request_id = 'r-1'",
    "source_ip": "source_ip = '10.0.0.8'",
    "source_ip to null": "source_ip = NULL",
    "detail's value": 'detail = \'{"n": 2, "purpose": "XYZ"}\'',
    "detail's number written as a decimal": 'detail = \'{"n": 2.0, "purpose": "INV"}\'',
    "detail with a key more": 'detail = \'{"n": 2, "purpose": "INV", "x": null}\'',
    "detail's string as a number": 'detail = \'{"n": "2", "purpose": "INV"}\'',
    "occurred_at, by a microsecond": "occurred_at = occurred_at + interval '1 microsecond'",
    "event_id": "event_id = '00000000-0000-7000-8000-000000000000'",
}


def _write_full_events(database: Database, count: int) -> None:
    """Events with every column filled, so that any column can be edited."""
    actor = dataclasses.replace(OFFICER, request_id="r-0")
    with database.unit_of_work() as session:
        for n in range(count):
            record(
                session,
                actor=actor,
                action="transaction.search",
                now=datetime(2026, 11, 21, 9, 0, n, 123456, tzinfo=UTC),
                target_type="person",
                target_id=f"p{n}",
                detail={"n": n, "purpose": "INV"},
            )


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_an_edited_column_is_found_as_the_careful_check_finds_it(pg: Database, edit: str) -> None:
    _write_full_events(pg, 5)
    tamper(pg, f"UPDATE audit_events SET {edit} WHERE seq = 3")  # noqa: S608 (fixed text)
    quick, careful = _both(pg, 1, 5)
    assert _found(quick) == _found(careful)
    assert {seq for seq, _ in _found(quick)} == {3}, _found(quick)
    assert _same_in_database(pg, 1, 5) == [True, True, False, True, True]


def test_a_text_rewritten_with_the_same_values_is_found_by_its_hash(pg: Database) -> None:
    """The database sees the same JSON values; the leaf hash, over the bytes, does not."""
    _write_full_events(pg, 5)
    tamper(pg, "UPDATE audit_events SET canonical = replace(canonical, ',', ', ') WHERE seq = 3")
    assert _same_in_database(pg, 1, 5) == [True] * 5
    quick, careful = _both(pg, 1, 5)
    assert _found(quick) == [(3, "leaf_mismatch")]
    assert (3, "leaf_mismatch") in _found(careful)


NOT_JSONB = {
    "not JSON": "canonical || '}'",
    # JSON, but jsonb refuses the NUL (a different error from the one above)
    "an escaped NUL": "replace(canonical, '\"INV\"', '\"I\\u0000NV\"')",
}


@pytest.mark.parametrize("edit", NOT_JSONB.values(), ids=NOT_JSONB.keys())
def test_a_text_that_is_not_json_sends_its_range_the_careful_way(pg: Database, edit: str) -> None:
    _write_full_events(pg, 5)
    tamper(pg, f"UPDATE audit_events SET canonical = {edit} WHERE seq = 4")  # noqa: S608
    quick, careful = _both(pg, 1, 5)
    assert quick is None  # the database could not read it: nothing half-checked is returned
    with pg.unit_of_work(write=False) as session:
        checked = check_rows(session, 1, 5)
        assert session.execute(text("SELECT 1")).scalar() == 1  # the unit of work goes on
    assert checked == careful
    assert _found(checked) == [(4, "edited"), (4, "leaf_mismatch")]


def test_a_clean_range_reads_the_same_both_ways(pg: Database) -> None:
    write_events(pg, 7)
    quick, careful = _both(pg, 2, 6)
    assert quick == careful
    assert quick is not None and quick.seqs == [2, 3, 4, 5, 6] and quick.problems == []
