"""The policy engine on one core: compliance evaluations per second, and the appropriate-use
rules over a million synthetic transactions, each against a baseline measured in the same run.

- Evaluations: the example fleet baseline, specialist unit and device override resolved into
  one policy (the heaviest realistic case), against a mix of postures as devices send them
  (compliant, failing, Android 6 to 9, profile owners, malformed fields). Baseline: reading
  the same postures into the engine's posture model, which every evaluation must do first.
- Appropriate use: 2,000 officers in 20 divisions over 30 days, rostered in shifts, with own
  records, declared associations and a protected list, every rule on. Baseline: one pass that
  groups the same transactions by officer and day, the least any volume rule must do.

    python bench/policy.py [--seconds 5] [--transactions 1000000]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies import (
    DevicePosture,
    Directory,
    Layer,
    Officer,
    ResolvedPolicy,
    Transaction,
    evaluate,
    parse_policy,
    resolve,
    review,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def realistic_policy() -> ResolvedPolicy:
    layers = [
        Layer(name, parse_policy(yaml.safe_load((EXAMPLES / f"{file}.yaml").read_text())))
        for name, file in (
            ("fleet", "fleet-baseline"),
            ("group:specialist", "specialist-unit"),
            ("device:4f2a", "device-override"),
        )
    ]
    return resolve(layers)


def postures(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Postures as the server stores them for devices under that policy: most comply, about
    one in six fails something (the failures a fleet sees), one in fifty is malformed."""
    work = [
        "uk.police.tabard.gate",
        "uk.police.pnc.mobile",
        "uk.police.pocketbook",
        "uk.police.incidents",
        "com.android.settings",
        "com.google.android.gms",
    ]
    failures = [
        {"usb_debugging": True},
        {"developer_options": True},
        {"encrypted": False},
        {"screen_lock": {"secure": True, "type": "pin", "length": 6}},
        {"security_patch": (NOW.date() - timedelta(days=500)).isoformat()},
        {
            "model": "SM-J510FN",
            "android_version": "7.1.1",
            "sdk": 25,
            "management_mode": "profile_owner",
        },
        {"warranty_bit": 1},
        {"policy_unapplied": ["secure_side.camera_allowed"]},
    ]
    out = []
    for n in range(count):
        model, android, sdk = rng.choice([("SM-J530F", "9", 28), ("SM-T580", "8.1.0", 27)])
        posture: dict[str, Any] = {
            "model": model,
            "android_version": android,
            "sdk": sdk,
            "security_patch": (NOW.date() - timedelta(days=rng.randint(10, 300))).isoformat(),
            "knox_version": "3.2",
            "warranty_bit": 0,
            "encrypted": True,
            "screen_lock": {"secure": True, "type": "password", "length": rng.randint(8, 12)},
            "usb_debugging": False,
            "developer_options": False,
            "unknown_sources": False,
            "apps": {
                "personal": [f"com.example.app{i}" for i in range(40)],
                "work": work,
            },
            "management_mode": "device_owner_work_profile",
            "policy_version_applied": 7,
        }
        if rng.random() < 0.16:
            posture.update(rng.choice(failures))
        if n % 50 == 0:  # a buggy or hostile agent
            posture.update({"sdk": "twenty", "screen_lock": 5, "encrypted": "maybe"})
        out.append(posture)
    return out


def per_second(work: Any, items: list[Any], seconds: float) -> tuple[float, int]:
    """Run `work(item)` round-robin over `items` for about `seconds`; (rate, calls)."""
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for item in items:
            work(item)
        calls += len(items)
    return calls / (time.perf_counter() - started), calls


def bench_evaluations(seconds: float) -> dict[str, Any]:
    rng = random.Random(4)
    policy = realistic_policy()
    sample = postures(1000, rng)
    first_seen = {rule: NOW - timedelta(hours=rng.randint(0, 200)) for rule in policy.settings}
    statuses: dict[str, int] = defaultdict(int)
    for posture in sample:
        statuses[evaluate(policy, posture, now=NOW, first_seen=first_seen).status] += 1
    log(f"evaluations: {len(policy.settings)} settings, postures by status {dict(statuses)}")
    baseline, _ = per_second(DevicePosture.lenient, sample, seconds)
    rate, calls = per_second(
        lambda posture: evaluate(policy, posture, now=NOW, first_seen=first_seen), sample, seconds
    )
    log(
        f"evaluations: {rate:,.0f}/s ({calls:,} in {seconds}s); posture parsing alone "
        f"{baseline:,.0f}/s; ratio {rate / baseline:.3f}"
    )
    return {
        "per_s": round(rate),
        "baseline_posture_parse_per_s": round(baseline),
        "ratio": round(rate / baseline, 3),
        "settings": len(policy.settings),
        "statuses": dict(sorted(statuses.items())),
    }


def synthetic_world(count: int, rng: random.Random) -> tuple[Directory, list[Transaction]]:
    officers_n, divisions, days = 2000, 20, 30
    start = NOW - timedelta(days=days)
    people = [f"person:{n:06d}" for n in range(200_000)]
    protected = frozenset(rng.sample(people, 500))
    officers = {}
    for n in range(officers_n):
        officer_id = f"officer-{n:04d}"
        offset = rng.randint(0, 6)
        shifts = tuple(
            (start + timedelta(days=day, hours=7), start + timedelta(days=day, hours=17))
            for day in range(days)
            if (day + offset) % 7 < 5
        )
        officers[officer_id] = Officer(
            id=officer_id,
            division=f"division-{n % divisions:02d}",
            own_subjects=frozenset({f"person:officer-{n:04d}"}),
            associations=frozenset(rng.sample(people, rng.randint(0, 3))),
            shifts=shifts,
        )
    ids = list(officers)
    types = ["person_search", "vehicle_search", "incident_lookup", "incident_report"]
    transactions = []
    for n in range(count):
        officer = ids[n % officers_n] if rng.random() < 0.9 else rng.choice(ids)
        shifts = officers[officer].shifts or ()
        if shifts and rng.random() < 0.97:  # most work happens on shift
            begin, end = rng.choice(shifts)
            at = begin + (end - begin) * rng.random()
        else:
            at = start + timedelta(seconds=rng.randint(0, days * 86400))
        subject = rng.choice(people)
        if rng.random() < 0.0005:
            subject = f"person:{officer}"  # self search
        elif rng.random() < 0.0005:
            subject = f"person:{rng.choice(ids)}"  # a colleague
        transactions.append(
            Transaction(
                id=f"tx-{n:08d}",
                officer=officer,
                at=at,
                type=rng.choice(types),
                purpose="INVESTIGATION",
                incident_reference=None if rng.random() < 0.05 else f"CAD-{n % 9973}",
                subjects=(subject,),
                device_compliant=rng.random() > 0.02,
            )
        )
    return Directory(officers=officers, protected=protected), transactions


def grouped_pass(transactions: list[Transaction]) -> int:
    """The baseline: every transaction read once and counted by officer and UTC day."""
    counts: dict[tuple[str, Any], int] = defaultdict(int)
    for tx in transactions:
        counts[(tx.officer, tx.at.date())] += 1
    return len(counts)


def bench_appropriate_use(count: int) -> dict[str, Any]:
    rng = random.Random(9)
    built = time.perf_counter()
    directory, transactions = synthetic_world(count, rng)
    log(f"appropriate use: built {count:,} transactions in {time.perf_counter() - built:.1f}s")
    policy = realistic_policy()
    gc.collect()
    started = time.perf_counter()
    grouped_pass(transactions)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    flags = review(policy, transactions, directory)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    by_rule: dict[str, int] = defaultdict(int)
    for flag in flags:
        by_rule[flag.rule] += 1
    log(
        f"appropriate use: {count:,} transactions in {elapsed:.1f}s ({count / elapsed:,.0f}/s), "
        f"{len(flags):,} flags; grouping pass alone {baseline:.1f}s; "
        f"ratio {elapsed / baseline:.2f}; process peak RSS {peak / 2**20:.0f} MiB "
        "(transactions included)"
    )
    return {
        "transactions": count,
        "seconds": round(elapsed, 2),
        "per_s": round(count / elapsed),
        "baseline_grouping_s": round(baseline, 2),
        "ratio": round(elapsed / baseline, 2),
        "peak_rss_mib": round(peak / 2**20),
        "flags": len(flags),
        "flags_by_rule": dict(sorted(by_rule.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {
        "benchmark": "policy",
        "evaluations": bench_evaluations(args.seconds),
        "appropriate_use": bench_appropriate_use(args.transactions),
    }
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
