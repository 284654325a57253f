"""Appropriate-use rules: each rule on a small story, the volume statistics, order
independence, and the justification sample."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Directory, Flag, Officer, PolicyDocument, Transaction, parse_policy, review
from policies.appropriate_use import sampled_for_justification

MONDAY = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
ALL_RULES = {
    "self_search": True,
    "colleague_search": True,
    "declared_association": True,
    "protected_person": True,
    "outside_shift": True,
    "outside_shift_grace_minutes": 30,
    "missing_incident_reference": True,
    "non_compliant_device": True,
}


def _policy(**rules: Any) -> PolicyDocument:
    return parse_policy(
        {
            "name": "au",
            "appropriate_use": {
                "transaction_types": {
                    "person_search": {
                        "purposes": ["INVESTIGATION"],
                        "incident_reference_required": True,
                    },
                    "vehicle_search": {"purposes": ["ROAD_TRAFFIC"]},
                },
                "rules": rules or ALL_RULES,
            },
        }
    )


def _shift(day: int) -> tuple[datetime, datetime]:
    start = MONDAY + timedelta(days=day)
    return start, start + timedelta(hours=10)


PC_ADAMS = Officer(
    id="adams",
    division="north",
    own_subjects=frozenset({"person:adams"}),
    associations=frozenset({"person:ex-partner"}),
    shifts=tuple(_shift(day) for day in range(5)),
)
PC_BAKER = Officer(id="baker", division="north", own_subjects=frozenset({"person:baker"}))
DIRECTORY = Directory(
    officers={"adams": PC_ADAMS, "baker": PC_BAKER}, protected=frozenset({"person:mp"})
)


def _tx(n: int, *, at: datetime = MONDAY + timedelta(hours=2), **fields: Any) -> Transaction:
    base = {"officer": "adams", "type": "vehicle_search", "purpose": "ROAD_TRAFFIC"}
    return Transaction(id=f"tx-{n:04d}", at=at, **{**base, **fields})


def _by_rule(flags: tuple[Flag, ...]) -> dict[str, list[Flag]]:
    out: dict[str, list[Flag]] = {}
    for flag in flags:
        out.setdefault(flag.rule, []).append(flag)
    return out


def test_an_ordinary_shift_raises_nothing() -> None:
    transactions = [
        _tx(1, subjects=("vehicle:AB12CDE",)),
        _tx(
            2,
            type="person_search",
            purpose="INVESTIGATION",
            incident_reference="CAD-1",
            subjects=("person:someone",),
            device_compliant=True,
        ),
    ]
    assert review(_policy(), transactions, DIRECTORY) == ()


def test_searching_oneself_is_one_lead_with_all_its_events() -> None:
    flags = review(
        _policy(),
        [_tx(1, subjects=("person:adams",)), _tx(2, subjects=("person:adams",))],
        DIRECTORY,
    )
    (flag,) = _by_rule(flags)["self_search"]
    assert (flag.officer, flag.key, flag.evidence) == (
        "adams",
        "person:adams",
        ("tx-0001", "tx-0002"),
    )
    assert flag.score > review(_policy(), [_tx(1, subjects=("person:adams",))], DIRECTORY)[0].score


def test_searching_a_colleague_names_the_colleague() -> None:
    (flag,) = review(_policy(), [_tx(1, subjects=("person:baker",))], DIRECTORY)
    assert flag.rule == "colleague_search"
    assert flag.detail == {"subject": "person:baker", "colleague": "baker"}


def test_declared_associations_and_protected_people() -> None:
    flags = _by_rule(
        review(_policy(), [_tx(1, subjects=("person:ex-partner", "person:mp"))], DIRECTORY)
    )
    assert set(flags) == {"declared_association", "protected_person"}
    assert flags["declared_association"][0].score > flags["protected_person"][0].score


def test_outside_shift_with_grace() -> None:
    shift_end = MONDAY + timedelta(hours=10)
    inside_grace = _tx(1, at=shift_end + timedelta(minutes=29))
    outside = _tx(2, at=shift_end + timedelta(minutes=31))
    on_day_off = _tx(3, at=MONDAY + timedelta(days=5, hours=2))
    flags = _by_rule(review(_policy(), [inside_grace, outside, on_day_off], DIRECTORY))[
        "outside_shift"
    ]
    assert [(flag.key, flag.evidence) for flag in flags] == [
        ("2026-11-16", ("tx-0002",)),
        ("2026-11-21", ("tx-0003",)),
    ]


def test_officers_without_a_roster_are_not_judged_on_shifts() -> None:
    late = _tx(1, officer="baker", at=MONDAY + timedelta(hours=20))
    assert review(_policy(), [late], DIRECTORY) == ()


def test_missing_incident_reference_only_where_required() -> None:
    person = _tx(1, type="person_search", purpose="INVESTIGATION")
    vehicle = _tx(2, type="vehicle_search")
    (flag,) = review(_policy(), [person, vehicle], DIRECTORY)
    assert (flag.rule, flag.evidence) == ("missing_incident_reference", ("tx-0001",))


def test_non_compliant_device_but_not_unknown() -> None:
    flags = review(
        _policy(), [_tx(1, device_compliant=False), _tx(2, device_compliant=None)], DIRECTORY
    )
    assert [(f.rule, f.evidence) for f in flags] == [("non_compliant_device", ("tx-0001",))]


def test_rules_switched_off_raise_nothing() -> None:
    transactions = [
        _tx(1, subjects=("person:adams", "person:baker", "person:mp"), device_compliant=False)
    ]
    assert review(_policy(self_search=False), transactions, DIRECTORY) == ()


def test_days_are_the_forces_calendar_days() -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
    summer = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    flags = review(
        _policy(non_compliant_device=True), [_tx(1, at=summer, device_compliant=False)], DIRECTORY
    )
    assert flags[0].key == "2026-07-01"
    utc = review(
        _policy(non_compliant_device=True),
        [_tx(1, at=summer, device_compliant=False)],
        DIRECTORY,
        timezone="UTC",
    )
    assert utc[0].key == "2026-06-30"


def test_a_naive_time_is_read_as_utc() -> None:
    late = MONDAY + timedelta(hours=20)  # outside Monday's 08:00-18:00 shift
    aware = review(_policy(), [_tx(1, at=late)], DIRECTORY)
    naive = review(_policy(), [_tx(1, at=late.replace(tzinfo=None))], DIRECTORY)
    assert [flag.rule for flag in aware] == ["outside_shift"]
    assert naive == aware


def _days(officer: str, counts: list[int], start: int = 0) -> list[Transaction]:
    out = []
    for day, count in enumerate(counts, start=start):
        for n in range(count):
            out.append(
                Transaction(
                    id=f"{officer}-{day}-{n}",
                    officer=officer,
                    type="vehicle_search",
                    at=MONDAY + timedelta(days=day, minutes=n),
                )
            )
    return out


def test_volume_above_own_baseline() -> None:
    # Median 10, MAD 1: threshold 10 + 3 x 1.4826 = 14.45; 15 is flagged, 14 is not.
    counts = [9, 10, 11, 10, 9, 11, 10, 14, 15]
    policy = _policy(volume_own_baseline_deviations=3, volume_min_daily=5)
    (flag,) = review(policy, _days("adams", counts), DIRECTORY)
    assert flag.rule == "volume_own_baseline"
    assert flag.key == (MONDAY + timedelta(days=8)).date().isoformat()
    assert flag.detail["count"] == 15
    assert (flag.detail["median"], flag.detail["mad"], flag.detail["threshold"]) == (10, 1, 14.45)
    assert len(flag.evidence) == 15


def test_volume_baseline_needs_a_week_and_respects_the_floor() -> None:
    short_history = [10, 10, 10, 10, 10, 40]
    assert (
        review(_policy(volume_own_baseline_deviations=3), _days("adams", short_history), DIRECTORY)
        == ()
    )
    quiet = [1, 1, 1, 1, 1, 1, 1, 6]
    assert (
        review(
            _policy(volume_own_baseline_deviations=3, volume_min_daily=10),
            _days("adams", quiet),
            DIRECTORY,
        )
        == ()
    )


def test_volume_above_peers() -> None:
    officers = {name: Officer(id=name, division="north") for name in ("a", "b", "c", "d", "e")}
    directory = Directory(officers=officers)
    transactions = [tx for name in "abcd" for tx in _days(name, [10, 10, 10])]
    transactions += _days("e", [10, 45, 10])
    flags = review(_policy(volume_peer_multiple=4, volume_min_daily=5), transactions, directory)
    (flag,) = flags
    assert (flag.rule, flag.officer, flag.detail["count"]) == ("volume_peer_baseline", "e", 45)
    assert (flag.detail["peer_median"], flag.detail["peers"], flag.detail["threshold"]) == (
        10,
        4,
        40,
    )


def test_too_few_peers_means_no_peer_comparison() -> None:
    officers = {name: Officer(id=name, division="north") for name in ("a", "b", "c")}
    transactions = _days("a", [5]) + _days("b", [5]) + _days("c", [500])
    assert review(_policy(volume_peer_multiple=2), transactions, Directory(officers=officers)) == ()


_officers = st.sampled_from(["adams", "baker"])
_subjects = st.lists(
    st.sampled_from(
        [
            "person:adams",
            "person:baker",
            "person:mp",
            "person:ex-partner",
            "person:someone",
            "vehicle:X",
        ]
    ),
    max_size=2,
).map(tuple)


@st.composite
def _transactions(draw: st.DrawFn) -> list[Transaction]:
    count = draw(st.integers(0, 60))
    return [
        Transaction(
            id=f"tx-{n}",
            officer=draw(_officers),
            at=MONDAY + timedelta(minutes=draw(st.integers(0, 60 * 24 * 10))),
            type=draw(st.sampled_from(["person_search", "vehicle_search"])),
            incident_reference=draw(st.none() | st.just("CAD-1")),
            subjects=draw(_subjects),
            device_compliant=draw(st.none() | st.booleans()),
        )
        for n in range(count)
    ]


@settings(max_examples=200, deadline=None)
@given(_transactions(), st.randoms(use_true_random=False))
def test_flags_do_not_depend_on_the_order_of_events(
    transactions: list[Transaction], rnd: random.Random
) -> None:
    policy = _policy(
        **ALL_RULES, volume_own_baseline_deviations=2, volume_peer_multiple=1.5, volume_min_daily=1
    )
    shuffled = list(transactions)
    rnd.shuffle(shuffled)
    assert review(policy, transactions, DIRECTORY) == review(policy, shuffled, DIRECTORY)
    assert review(policy, transactions, DIRECTORY) == review(
        policy, reversed(transactions), DIRECTORY
    )


@settings(max_examples=100, deadline=None)
@given(_transactions())
def test_every_flag_points_at_real_events(transactions: list[Transaction]) -> None:
    ids = {tx.id for tx in transactions}
    for flag in review(
        _policy(**ALL_RULES, volume_own_baseline_deviations=2), transactions, DIRECTORY
    ):
        assert flag.evidence and set(flag.evidence) <= ids
        assert 0 < flag.score <= 1


def test_the_justification_sample_is_near_the_rate_and_reproducible() -> None:
    key = b"k" * 32
    chosen = [sampled_for_justification(f"tx-{n}", 0.1, key=key) for n in range(20_000)]
    assert 0.09 < sum(chosen) / len(chosen) < 0.11
    assert chosen == [sampled_for_justification(f"tx-{n}", 0.1, key=key) for n in range(20_000)]
    other_key = [sampled_for_justification(f"tx-{n}", 0.1, key=b"j" * 32) for n in range(20_000)]
    assert other_key != chosen


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_the_justification_sample_at_its_limits(rate: float) -> None:
    assert {sampled_for_justification(f"tx-{n}", rate, key=b"k") for n in range(100)} == {
        bool(rate)
    }
