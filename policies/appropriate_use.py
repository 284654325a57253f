"""Appropriate-use rules over secure-side transactions. They raise *flags*: leads for a human
reviewer, with the events that support them and a score to order the queue. Never verdicts:
an officer may have had a good reason, and the reviewer decides.

Subjects (the people and vehicles a transaction touched) are opaque keys. The server derives
them with a keyed hash, so the rules, and the flags they raise, never need a name.

The rules, each switched on by the policy's `appropriate_use.rules`:
- `self_search`: the officer looked up one of their own records.
- `colleague_search`: the officer looked up a colleague's record (the staff directory).
- `declared_association`: the subject is on the officer's declared associations (vetting).
- `protected_person`: the subject is on the protected or high-profile list.
- `outside_shift`: the transaction fell outside every rostered shift of the officer, more
  than `outside_shift_grace_minutes` either side. Officers without a roster are not judged.
- `missing_incident_reference`: the transaction type needs an incident reference and has none.
- `non_compliant_device`: the transaction came from a device that was not compliant.
- volume against the officer's own baseline (`volume_own_baseline_deviations`): a day whose count
  is more than k robust standard deviations above the officer's median day, where the robust
  standard deviation is 1.4826 x the median absolute deviation (MAD) of the officer's active
  days, at least 1. Needs `MIN_BASELINE_DAYS` active days; the day itself is included, which
  the median and MAD tolerate by design.
- volume against peers (`volume_peer_multiple`): a day whose count is more than m times the
  median of the median days of the officer's peers (the other officers of the same division,
  at least `MIN_PEERS` of them).
Both volume rules ignore days below `volume_min_daily`.

Days are calendar days in the force's time zone. The output depends only on the set of
transactions, never on their order: flags group evidence by (rule, officer, subject or day),
and evidence is sorted."""

from __future__ import annotations

import hashlib
import hmac
import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from policies.document import PolicyDocument
from policies.layering import ResolvedPolicy

MIN_BASELINE_DAYS = 7
MIN_PEERS = 3
MAD_TO_SD = 1.4826
DEFAULT_TIMEZONE = "Europe/London"
# How much one event of each rule weighs in a lead's score (0 to 1).
WEIGHTS: dict[str, float] = {
    "declared_association": 0.9,
    "self_search": 0.7,
    "colleague_search": 0.6,
    "protected_person": 0.5,
    "volume_own_baseline": 0.4,
    "volume_peer_baseline": 0.4,
    "outside_shift": 0.4,
    "missing_incident_reference": 0.3,
    "non_compliant_device": 0.3,
}
SUBJECT_RULES = ("self_search", "colleague_search", "declared_association", "protected_person")


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    officer: str
    at: datetime
    type: str
    purpose: str | None = None
    incident_reference: str | None = None
    subjects: tuple[str, ...] = ()
    device_compliant: bool | None = None


@dataclass(frozen=True)
class Officer:
    id: str
    division: str | None = None
    own_subjects: frozenset[str] = frozenset()
    associations: frozenset[str] = frozenset()
    shifts: tuple[tuple[datetime, datetime], ...] | None = None  # None: no roster known


@dataclass(frozen=True)
class Directory:
    """What the rules know about people: officers (their own records, declared associations,
    rosters) and the protected list."""

    officers: Mapping[str, Officer] = field(default_factory=dict)
    protected: frozenset[str] = frozenset()

    def colleague_index(self) -> dict[str, str]:
        """Subject key -> the officer whose own record it is."""
        return {
            subject: officer.id
            for officer in self.officers.values()
            for subject in officer.own_subjects
        }


@dataclass(frozen=True)
class Flag:
    rule: str
    officer: str
    key: str  # the subject key or the day the flag is about
    evidence: tuple[str, ...]  # transaction ids, sorted
    score: float
    detail: Mapping[str, Any] = field(default_factory=dict)


def _score(rule: str, events: int, *, boost: float = 1.0) -> float:
    """The rule's weight, raised gently by the number of supporting events (and, for volume,
    by how far over the threshold the day was); at most 1."""
    raw = WEIGHTS[rule] * (1 + 0.25 * math.log2(max(events, 1))) * boost
    return round(min(raw, 1.0), 3)


class _Roster:
    """An officer's shifts widened by the grace period, merged, for bisecting."""

    def __init__(self, shifts: Iterable[tuple[datetime, datetime]], grace: timedelta) -> None:
        merged: list[list[datetime]] = []
        for start, end in sorted((_aware(s) - grace, _aware(e) + grace) for s, e in shifts):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [start for start, _ in merged]
        self.ends = [end for _, end in merged]

    def on_shift(self, at: datetime) -> bool:
        index = bisect_right(self.starts, at) - 1
        return index >= 0 and at <= self.ends[index]


def _aware(moment: datetime) -> datetime:
    """A naive time is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _settings(policy: ResolvedPolicy | PolicyDocument | Mapping[str, Any]) -> Mapping[str, Any]:
    """A policy's settings; a mapping is taken as settings already resolved."""
    if isinstance(policy, ResolvedPolicy):
        return policy.settings
    if isinstance(policy, PolicyDocument):
        return ResolvedPolicy.single(policy).settings
    return policy


def review(
    policy: ResolvedPolicy | PolicyDocument | Mapping[str, Any],
    transactions: Iterable[Transaction],
    directory: Directory,
    *,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[Flag, ...]:
    """Flags raised by the policy's appropriate-use rules, highest score first."""
    settings = _settings(policy)
    rules = {
        name.removeprefix("appropriate_use.rules."): value
        for name, value in settings.items()
        if name.startswith("appropriate_use.rules.")
    }
    types = settings.get("appropriate_use.transaction_types") or {}
    needs_reference = {name for name, rule in types.items() if rule["incident_reference_required"]}
    zone = ZoneInfo(timezone)
    grace = timedelta(minutes=rules.get("outside_shift_grace_minutes") or 0)
    rosters = {
        officer.id: _Roster(officer.shifts, grace)
        for officer in directory.officers.values()
        if officer.shifts is not None
    }
    colleagues = directory.colleague_index() if rules.get("colleague_search") else {}
    check_subjects = any(rules.get(rule) for rule in SUBJECT_RULES)

    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    daily: dict[tuple[str, str], list[str]] = defaultdict(list)
    # The local day of each quarter-hour seen (UTC offsets are whole quarter-hours), so each
    # instant is converted to local time once.
    day_of: dict[int, str] = {}
    outside_shift = bool(rules.get("outside_shift"))
    missing_reference = bool(rules.get("missing_incident_reference"))
    non_compliant = bool(rules.get("non_compliant_device"))

    for tx in transactions:
        at = _aware(tx.at)
        quarter = int(at.timestamp()) // 900
        day = day_of.get(quarter)
        if day is None:
            day = day_of[quarter] = at.astimezone(zone).date().isoformat()
        daily[(tx.officer, day)].append(tx.id)
        if check_subjects and tx.subjects:
            _subject_flags(tx, directory, colleagues, rules, grouped)
        if outside_shift:
            roster = rosters.get(tx.officer)
            if roster is not None and not roster.on_shift(at):
                grouped[("outside_shift", tx.officer, day)].append(tx.id)
        if missing_reference and tx.type in needs_reference and not tx.incident_reference:
            grouped[("missing_incident_reference", tx.officer, day)].append(tx.id)
        if non_compliant and tx.device_compliant is False:
            grouped[("non_compliant_device", tx.officer, day)].append(tx.id)

    flags = [
        Flag(
            rule=rule,
            officer=officer,
            key=key,
            evidence=tuple(sorted(ids)),
            score=_score(rule, len(ids)),
            detail=_detail(rule, officer, key, colleagues),
        )
        for (rule, officer, key), ids in grouped.items()
    ]
    flags += _volume_flags(daily, directory, rules)
    flags.sort(key=lambda flag: (-flag.score, flag.rule, flag.officer, flag.key))
    return tuple(flags)


def _subject_flags(
    tx: Transaction,
    directory: Directory,
    colleagues: Mapping[str, str],
    rules: Mapping[str, Any],
    grouped: dict[tuple[str, str, str], list[str]],
) -> None:
    officer = directory.officers.get(tx.officer)
    for subject in set(tx.subjects):
        if rules.get("self_search") and officer is not None and subject in officer.own_subjects:
            grouped[("self_search", tx.officer, subject)].append(tx.id)
        owner = colleagues.get(subject)
        if owner is not None and owner != tx.officer:
            grouped[("colleague_search", tx.officer, subject)].append(tx.id)
        if (
            rules.get("declared_association")
            and officer is not None
            and subject in officer.associations
        ):
            grouped[("declared_association", tx.officer, subject)].append(tx.id)
        if rules.get("protected_person") and subject in directory.protected:
            grouped[("protected_person", tx.officer, subject)].append(tx.id)


def _detail(rule: str, officer: str, key: str, colleagues: Mapping[str, str]) -> dict[str, Any]:
    if rule == "colleague_search":
        return {"subject": key, "colleague": colleagues[key]}
    if rule in SUBJECT_RULES:
        return {"subject": key}
    return {"day": key}


def _volume_flags(
    daily: Mapping[tuple[str, str], list[str]], directory: Directory, rules: Mapping[str, Any]
) -> list[Flag]:
    own_k = rules.get("volume_own_baseline_deviations")
    peer_multiple = rules.get("volume_peer_multiple")
    if own_k is None and peer_multiple is None:
        return []
    floor = rules.get("volume_min_daily") or 1
    days_by_officer: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for (officer, day), ids in daily.items():
        days_by_officer[officer][day] = ids
    medians = {
        officer: median(len(ids) for ids in days.values())
        for officer, days in days_by_officer.items()
    }
    peer_medians = _peer_medians(medians, directory) if peer_multiple is not None else {}
    flags: list[Flag] = []
    for officer, days in days_by_officer.items():
        if own_k is not None and len(days) >= MIN_BASELINE_DAYS:
            middle = medians[officer]
            mad = median(abs(len(ids) - middle) for ids in days.values())
            threshold = middle + float(own_k) * max(MAD_TO_SD * mad, 1.0)
            baseline = {"median": middle, "mad": mad, "threshold": round(threshold, 2)}
            flags += _days_over("volume_own_baseline", officer, days, threshold, floor, baseline)
        if officer in peer_medians:
            peers, peer_median = peer_medians[officer]
            threshold = float(peer_multiple or 0) * peer_median
            baseline = {
                "peer_median": peer_median,
                "peers": peers,
                "threshold": round(threshold, 2),
            }
            flags += _days_over("volume_peer_baseline", officer, days, threshold, floor, baseline)
    return flags


def _peer_medians(
    medians: Mapping[str, float], directory: Directory
) -> dict[str, tuple[int, float]]:
    """Per officer with at least MIN_PEERS active peers in their division: how many, and the
    median of the peers' median days."""
    by_division: dict[str, list[str]] = defaultdict(list)
    for person in directory.officers.values():
        if person.division is not None and person.id in medians:
            by_division[person.division].append(person.id)
    out: dict[str, tuple[int, float]] = {}
    for members in by_division.values():
        if len(members) <= MIN_PEERS:
            continue
        ordered = sorted(medians[officer] for officer in members)
        for officer in members:
            without = bisect_left(ordered, medians[officer])
            out[officer] = (len(ordered) - 1, _median_without(ordered, without))
    return out


def _median_without(ordered: list[float], index: int) -> float:
    """The median of a sorted list with the item at `index` left out, in constant time."""

    def at(position: int) -> float:
        return ordered[position if position < index else position + 1]

    size = len(ordered) - 1
    middle = size // 2
    return at(middle) if size % 2 else (at(middle - 1) + at(middle)) / 2


def _days_over(
    rule: str,
    officer: str,
    days: Mapping[str, list[str]],
    threshold: float,
    floor: int,
    baseline: Mapping[str, Any],
) -> list[Flag]:
    return [
        Flag(
            rule=rule,
            officer=officer,
            key=day,
            evidence=tuple(sorted(ids)),
            score=_score(rule, 1, boost=min(len(ids) / threshold, 2.5)),
            detail={"day": day, "count": len(ids), **baseline},
        )
        for day, ids in sorted(days.items())
        if len(ids) > threshold and len(ids) >= floor
    ]


def sampled_for_justification(transaction_id: str, rate: float, *, key: bytes) -> bool:
    """Whether this transaction is in the random sample asked for further justification:
    a keyed hash of its id, so the choice is uniform, reproducible by the server, and not
    predictable by the officer."""
    if rate <= 0:
        return False
    digest = hmac.new(key, transaction_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") < rate * 2**64
