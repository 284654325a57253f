"""A day in the life of a force, compressed: light protocol-level agents against two
`tabard serve` workers on PostgreSQL (issue 26, item 4; DESIGN.md flows 3-9).

Set-up (not measured): a fresh PostgreSQL database, the example fleet baseline as the fleet
policy (its outside-shift grace set to nothing, since the simulated day runs in real minutes),
one officer for every five devices with a PIN set by IT, the devices enrolled over HTTP at
once and the officers' assigned, the directory (officers' own records, and their shifts mapped
onto the real minutes of the simulated day) loaded by professional standards.

The day: every device checks in every five simulated minutes; officers enter the secure side
and make 13,000 transactions per 10,000 devices (searches, lookups, reports, with purposes and
incident references), mostly on shift, a few at night or of themselves, so the rules raise
flags; 50 `lock_secure_side` commands are queued through the staff API over the day to
devices holding long polls and come back with signed receipts; the server signs a checkpoint
every minute and `tabard audit witness` follows along.

Afterwards: every transaction and device event the server acknowledged is in the audit log
exactly once, every command has its receipt, `tabard audit verify` passes and the witness
agrees. Server CPU (all its processes, from /proc) per device per simulated day and per
transaction, beside the same server's CPU over an idle interval and its CPU per request of
the trivial endpoint, both measured in the same run. Ends with one JSON line.

    TABARD_TEST_DATABASE_URL=... python bench/force_day.py [--agents 10000] [--minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _app_agents
from bench._day_agents import Officer, Plan, Visit, first_checkins, run_day
from bench._load import FAILING_EVERY, DeviceCredentials, trivial_load
from bench.checkin import BASELINE
from bench.delivery import Fleet
from tests.databases import PostgresDatabases
from tests.e2e.harness import Tabard

PASSWORD = "a day in the life of a force"  # noqa: S105 - throwaway benchmark accounts
DAY_S = 86_400
FORCE_DEVICES = 10_000
FORCE_TRANSACTIONS = 13_000  # a day of a force's 400,000 a month
DEVICES_PER_OFFICER = 5
SETUP_CONCURRENCY = 16
START_LEAD_S = 20
HOUR = 3600
CHECKIN_EVERY_S = 300
DAY_SHIFT = (7 * HOUR, 17 * HOUR)
NIGHT_SHIFTS = ((0, 6 * HOUR), (18 * HOUR, DAY_S))
CHEAP_KDF = {  # PIN and password hashing near free: bench/gate.py measures their real cost
    "TABARD_ARGON2_MEMORY_KIB": "8",
    "TABARD_ARGON2_TIME_COST": "1",
    "TABARD_ARGON2_PARALLELISM": "1",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- CPU from /proc ---------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """The parent pid and CPU seconds (user + system) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every process descended from it (all the workers)."""
    stats = {int(p): _stat(int(p)) for p in os.listdir("/proc") if p.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat:
            children.setdefault(stat[0], []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        stat = stats.get(pid)
        total += stat[1] if stat else 0.0
        stack += children.get(pid, [])
    return total


def postgres_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench's database, where /proc shows
    them (PostgreSQL on this machine)."""
    with psycopg.connect(database_url.replace("+psycopg", "")) as db:
        pids = [
            row[0]
            for row in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    return {pid: stat[1] for pid in pids if (stat := _stat(pid))}


def postgres_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# --- set-up -----------------------------------------------------------------------------------


def staff_login(http: httpx.Client, username: str = "bench") -> dict[str, str]:
    answer = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def fleet_policy() -> dict[str, Any]:
    """The example fleet baseline, its outside-shift grace set to nothing (an hour of grace
    would be hours of the compressed day)."""
    document: dict[str, Any] = yaml.safe_load(BASELINE.read_text())
    document["appropriate_use"]["rules"]["outside_shift_grace_minutes"] = 0
    return document


def apply_policy(http: httpx.Client, headers: dict[str, str], document: dict[str, Any]) -> None:
    name = document["name"]
    http.put(
        f"/api/v1/policies/{name}", json={"document": document}, headers=headers
    ).raise_for_status()
    http.put(
        "/api/v1/policy-assignments/fleet", json={"policy": name}, headers=headers
    ).raise_for_status()


def credentials(agent: _app_agents.Agent) -> DeviceCredentials:
    pem = agent.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DeviceCredentials(agent.device_id, pem, agent.audience)


def enrol_all(url: str, headers: dict[str, str], count: int) -> list[DeviceCredentials]:
    devices: list[DeviceCredentials] = []
    while len(devices) < count:  # a token serves at most 10,000 devices
        batch = min(10_000, count - len(devices))
        devices += [credentials(a) for a in asyncio.run(_app_agents.enrol(url, headers, batch))]
    return devices


def officers_for(devices: list[DeviceCredentials]) -> list[Officer]:
    """One officer for every DEVICES_PER_OFFICER devices, on a device that reports a clean
    posture."""
    candidates = [i for i in range(len(devices)) if i % FAILING_EVERY != 0]
    chosen = candidates[:: DEVICES_PER_OFFICER - 1][: max(1, len(devices) // DEVICES_PER_OFFICER)]
    return [
        Officer(collar=f"{20000 + n}", pin=f"40{n:04d}7", new_pin=f"58{n:04d}3", device=index)
        for n, index in enumerate(chosen)
    ]


async def _set_up_officers(
    url: str, headers: dict[str, str], officers: list[Officer], devices: list[DeviceCredentials]
) -> None:
    slots = asyncio.Semaphore(SETUP_CONCURRENCY)
    async with _app_agents.client(url, SETUP_CONCURRENCY) as http:

        async def one(officer: Officer) -> None:
            async with slots:
                user = {
                    "username": f"pc-{officer.collar}",
                    "role": "officer",
                    "display_name": f"PC {officer.collar}",
                    "collar_number": officer.collar,
                    "division": "north",
                    "password": PASSWORD,
                }
                (await http.post("/api/v1/users", json=user, headers=headers)).raise_for_status()
                (
                    await http.put(
                        f"/api/v1/officers/{officer.collar}/pin",
                        json={"pin": officer.pin},
                        headers=headers,
                    )
                ).raise_for_status()
                (
                    await http.patch(
                        f"/api/v1/devices/{devices[officer.device].device_id}/assignment",
                        json={"officer": officer.collar},
                        headers=headers,
                    )
                ).raise_for_status()

        await asyncio.gather(*(one(officer) for officer in officers))


def own_record(officer: Officer) -> dict[str, str]:
    """The officer's own record in the force's systems (a name from their collar number)."""
    surname = officer.collar.translate(str.maketrans("0123456789", "abcdefghij")).capitalize()
    return {"surname": f"Mac{surname}", "forename": "Pat", "date_of_birth": "1985-03-04"}


def night_shift(number: int) -> bool:
    return number % 4 == 0


def load_directory(
    tabard: Tabard, officers: list[Officer], plan_start: float, compress: float
) -> None:
    """Professional standards load the officers' own records and their shifts, the simulated
    day's shifts mapped onto real time."""

    def real(simulated: float) -> str:
        moment = plan_start + simulated / compress
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))

    directory = {
        "officers": {
            officer.collar: {
                "own": [own_record(officer)],
                "shifts": [
                    {"start": real(start), "end": real(end)}
                    for start, end in (NIGHT_SHIFTS if night_shift(n) else (DAY_SHIFT,))
                ],
            }
            for n, officer in enumerate(officers)
        }
    }
    path = tabard.root / "directory.json"
    path.write_text(json.dumps(directory))
    tabard.run("directory", "load", str(path), "--yes")


def auditor_signs_in(tabard: Tabard, http: httpx.Client, headers: dict[str, str]) -> None:
    user = {"username": "ps-auditor", "role": "auditor", "password": PASSWORD}
    http.post("/api/v1/users", json=user, headers=headers).raise_for_status()
    tabard.login("ps-auditor", PASSWORD + "\n" + PASSWORD + " at last")


# --- the day's plan ---------------------------------------------------------------------------


def transaction(rng: random.Random, officer: Officer, *, self_search: bool) -> dict[str, Any]:
    reference = f"INC-{rng.randrange(10**6):06d}"
    if self_search:
        return {
            "type": "person_search",
            "purpose": "INVESTIGATION",
            "incident_reference": reference,
            "query": own_record(officer),
        }
    kind = rng.choices(["person", "vehicle", "lookup", "report"], [45, 30, 15, 10])[0]
    if kind == "person":
        return {
            "type": "person_search",
            "purpose": "INVESTIGATION",
            "incident_reference": reference,
            "query": {
                "surname": rng.choice(["Example", "Smith", "Jones", "Patel"]),
                "date_of_birth": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-12",
            },
        }
    if kind == "vehicle":
        plate = f"AB{rng.randrange(10, 99)} {rng.choice(['CDE', 'XYZ', 'KLM'])}"
        return {
            "type": "vehicle_search",
            "purpose": "ROAD_TRAFFIC",
            "query": {"registration": plate},
        }
    if kind == "lookup":
        return {
            "type": "incident_lookup",
            "purpose": "DEPLOYMENT",
            "incident_reference": reference,
            "query": {"reference": reference},
        }
    return {
        "type": "incident_report",
        "purpose": "INVESTIGATION",
        "report": {
            "summary": "Shop theft reported by the manager",
            "location": "High Street",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "category": "crime",
        },
    }


def visits_for(officers: list[Officer], total: int, seed: int = 4) -> list[Visit]:
    """`total` transactions in stays of one to four, on shift; one stay in forty is a day-shift
    officer at night, and one in a hundred a self-search at night."""
    rng = random.Random(seed)
    visits: list[Visit] = []
    made = 0
    while made < total:
        number = rng.randrange(len(officers))
        officer = officers[number]
        count = min(rng.randint(1, 4), total - made)
        roll = rng.random()
        if roll < 0.01 or (roll < 0.035 and not night_shift(number)):
            at = rng.uniform(1 * HOUR, 5 * HOUR)  # night: outside a day shift
        else:
            shifts = NIGHT_SHIFTS if night_shift(number) else (DAY_SHIFT,)
            start, end = rng.choice(shifts)
            at = rng.uniform(max(start, 0.25 * HOUR), end - 0.25 * HOUR)
        bodies = [transaction(rng, officer, self_search=roll < 0.01) for _ in range(count)]
        visits.append(Visit(at_s=at, officer=number, transactions=bodies))
        made += count
    return visits


# --- during and after the day -----------------------------------------------------------------


def queue_commands(
    http: httpx.Client,
    targets: list[str],
    plan: Plan,
    count: int,
    stop: threading.Event,
    queued: dict[str, str],
) -> None:
    """`count` lock_secure_side commands spread over the simulated day, through the staff API
    (signing in again as the access token ages)."""
    headers, signed_at = staff_login(http), time.monotonic()
    for n in range(count):
        due = plan.real((n + 0.5) * DAY_S / count)
        if stop.wait(max(0.0, due - time.time())):
            return
        if time.monotonic() - signed_at > 600:
            headers, signed_at = staff_login(http), time.monotonic()
        device = targets[n % len(targets)]
        answer = http.post(
            "/api/v1/commands",
            headers=headers,
            json={"type": "lock_secure_side", "target": {"devices": [device]}},
        )
        answer.raise_for_status()
        (command,) = answer.json()["commands"]
        queued[command["id"]] = device


def follow_witness(
    tabard: Tabard, state: Path, every_s: float, stop: threading.Event, runs: Counter[str]
) -> None:
    while not stop.wait(every_s):
        witnessed = tabard.run(
            "audit", "witness", "--server", tabard.url, "--state", str(state), check=False
        )
        runs[f"exit {witnessed.returncode}"] += 1


def audit_counts(database_url: str) -> dict[str, Counter[str]]:
    """How many times each transaction id and device event id is in the audit log."""
    found: dict[str, Counter[str]] = {"transactions": Counter(), "events": Counter()}
    with psycopg.connect(database_url.replace("+psycopg", "")) as db:
        for action, key, field in (
            ("transaction.%", "transactions", "transaction_id"),
            ("device_event.%", "events", "event_id"),
        ):
            rows = db.execute(
                f"SELECT detail::jsonb ->> '{field}' FROM audit_events WHERE action LIKE %s",  # noqa: S608
                (action,),
            )
            found[key].update(row[0] for row in rows)
    return found


def flags_raised(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url.replace("+psycopg", "")) as db:
        rows = db.execute("SELECT rule, count(*) FROM appropriate_use_flags GROUP BY rule")
        return {str(rule): int(n) for rule, n in rows}


def exactly_once(acknowledged: list[str], found: Counter[str]) -> dict[str, int]:
    return {
        "acknowledged": len(acknowledged),
        "missing": sum(1 for i in acknowledged if found[i] == 0),
        "doubled": sum(1 for i in acknowledged if found[i] > 1),
    }


def run(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    compress = DAY_S / (args.minutes * 60)
    with tempfile.TemporaryDirectory(prefix="tabard-day-") as scratch:
        tabard = Tabard(
            Path(scratch),
            database_url=database_url,
            extra_env={
                **CHEAP_KDF,
                "TABARD_AUDIT_CHECKPOINT_INTERVAL_S": str(args.checkpoint_every),
                "TABARD_ACCESS_LOG": "false",
            },
        )
        tabard.bootstrap("bench", PASSWORD)
        with (
            tabard.serving("--workers", "2"),
            httpx.Client(base_url=tabard.url, timeout=120) as http,
        ):
            assert tabard.server_pid is not None
            server = tabard.server_pid
            headers = staff_login(http)
            policy = fleet_policy()
            apply_policy(http, headers, policy)
            started, cpu_before = time.monotonic(), tree_cpu(server)
            devices = enrol_all(tabard.url, headers, args.agents)
            enrol_s = time.monotonic() - started
            enrol_cpu = tree_cpu(server) - cpu_before
            log(
                f"enrolled {len(devices)} devices in {enrol_s:.1f} s, "
                f"server CPU {enrol_cpu * 1000 / len(devices):.1f} ms each"
            )
            officers = officers_for(devices)
            asyncio.run(_set_up_officers(tabard.url, headers, officers, devices))
            auditor_signs_in(tabard, http, headers)
            log(f"{len(officers)} officers with PINs, their devices assigned")
            officer_devices = {o.device for o in officers}
            pollers = [d for i, d in enumerate(devices) if i not in officer_devices][: args.pollers]
            signer_pem = http.get("/api/v1/ca").json()["command_certificate"]
            transactions = round(FORCE_TRANSACTIONS * args.agents / FORCE_DEVICES)
            plan = Plan(
                host="127.0.0.1",
                port=tabard.port,
                devices=devices,
                officers=officers,
                visits=visits_for(officers, transactions),
                compliant=frozenset(officer_devices),
                policy_text_version=str(policy["appropriate_use"]["policy_text_version"]),
                signer_pem=signer_pem,
                compress=compress,
                started_at=0.0,
                connections=args.connections,
            )
            context = multiprocessing.get_context("spawn")
            fleet = Fleet([tabard], pollers, signer_pem, stagger_s=1.0, broker_url=None)
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as generator:
                generator.submit(first_checkins, plan, sorted(officer_devices)).result()
                fleet.wait_ready()

                log(f"idle baseline, {args.idle_seconds:.0f} s")
                cpu_before, pg_before = tree_cpu(server), postgres_cpu(database_url)
                time.sleep(args.idle_seconds)
                idle_cpu = tree_cpu(server) - cpu_before
                idle_pg = postgres_delta(pg_before, postgres_cpu(database_url))
                log("trivial endpoint, 5 s")
                cpu_before = tree_cpu(server)
                trivial = generator.submit(
                    trivial_load, "127.0.0.1", tabard.port, 16, 0.0, 5.0
                ).result()
                trivial_cpu_per_request = (tree_cpu(server) - cpu_before) / trivial["requests"]

                start = time.time() + START_LEAD_S  # the directory loaded first
                plan = dataclasses.replace(plan, started_at=start)
                load_directory(tabard, officers, start, compress)
                stop = threading.Event()
                queued: dict[str, str] = {}
                runs: Counter[str] = Counter()
                targets = [d.device_id for d in pollers]
                helpers = [
                    threading.Thread(
                        target=queue_commands,
                        args=(http, targets, plan, args.commands, stop, queued),
                    ),
                    threading.Thread(
                        target=follow_witness,
                        args=(tabard, Path(scratch) / "witness", args.witness_every, stop, runs),
                    ),
                ]
                day = generator.submit(run_day, plan)
                time.sleep(max(0.0, start - time.time()))
                cpu_before, pg_before = tree_cpu(server), postgres_cpu(database_url)
                wall_started = time.monotonic()
                log(
                    f"the day: {args.agents} devices, {len(officers)} officers, "
                    f"{len(plan.visits)} stays, {transactions} transactions, compressed "
                    f"{compress:.0f}x into {args.minutes} minutes"
                )
                for helper in helpers:
                    helper.start()
                done = day.result()
                day_cpu = tree_cpu(server) - cpu_before
                day_pg = postgres_delta(pg_before, postgres_cpu(database_url))
                wall = time.monotonic() - wall_started
                helpers[0].join()  # every command queued before the receipts are counted
                stop.set()
                helpers[1].join()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and commands_open(database_url, queued):
                    time.sleep(1)
                unreceipted = commands_open(database_url, queued)
                polled = fleet.stop()
            witness = tabard.run(
                "audit", "witness", "--server", tabard.url, "--state",
                str(Path(scratch) / "witness"), "--json", check=False,
            )  # fmt: skip
        verified = tabard.run("audit", "verify", "--json", check=False)
        found = audit_counts(database_url)
        flags = flags_raised(database_url)
    counts = Counter(done["counts"])
    acknowledged = len(done["transactions"])
    receipts = polled["receipts"]
    scheduled = args.agents * DAY_S // CHECKIN_EVERY_S
    requests = max(1, counts["requests"])
    idle_same_length = idle_cpu / args.idle_seconds * wall
    result = {
        "agents": args.agents,
        "officers": len(officers),
        "minutes": args.minutes,
        "compress": round(compress, 1),
        "wall_s": round(wall, 1),
        "wall_over_plan": round(wall / (args.minutes * 60), 2),  # over 1: the day ran late
        "enrol_s": round(enrol_s, 1),
        "enrol_per_s": round(args.agents / enrol_s, 1),
        "enrol_cpu_ms_each": round(enrol_cpu * 1000 / args.agents, 1),
        "checkins": counts["checkin 200"],
        "checkins_scheduled": scheduled,
        "checkins_skipped": counts["checkins skipped"],
        "entries": counts["entry 201"],
        "stays_late_simulated_min": late_minutes(done["stays_late_s"]),
        "transactions": acknowledged,
        "requests": counts["requests"],
        "statuses": {k: v for k, v in counts.items() if k not in ("requests",)},
        "commands": {
            "queued": len(queued),
            "receipted": len(queued) - unreceipted,
            "receipted_by_long_poll": sum(1 for c in queued if c in receipts),
            "poll_statuses": polled["statuses"],
        },
        "flags": flags,
        "lost": {
            "transactions": exactly_once(done["transactions"], found["transactions"]),
            "device_events": exactly_once(done["events"], found["events"]),
        },
        "audit_verify": verified.returncode == 0,
        "witness_agrees": witness.returncode == 0 and not runs.get("exit 2"),
        "witness_runs": dict(runs),
        "server_cpu_s": round(day_cpu, 1),
        "server_cpu_s_per_device_day": round(day_cpu / args.agents, 4),
        # Had every check-in been made: the day's CPU per request times the requests due.
        "server_cpu_s_per_device_day_at_schedule": round(
            day_cpu / requests * (requests + scheduled - counts["checkin 200"]) / args.agents, 4
        ),
        "server_cpu_ms_per_transaction": round(day_cpu * 1000 / max(1, acknowledged), 1),
        "server_cpu_ms_per_request": round(day_cpu * 1000 / requests, 2),
        "postgres_cpu_s": round(day_pg, 1),
        "idle_cpu_s_same_length": round(idle_same_length, 2),
        "idle_postgres_cpu_s_same_length": round(idle_pg / args.idle_seconds * wall, 2),
        "day_over_idle_cpu": round(day_cpu / max(idle_same_length, 0.01), 1),
        "trivial_cpu_ms_per_request": round(trivial_cpu_per_request * 1000, 3),
        "request_over_trivial_cpu": round(day_cpu / requests / trivial_cpu_per_request, 2),
    }
    if verified.returncode != 0:
        log(verified.stdout + verified.stderr)
    if witness.returncode != 0:
        log(witness.stdout + witness.stderr)
    return result


def commands_open(database_url: str, queued: dict[str, str]) -> int:
    """How many of the queued commands have no receipt yet (the agents' process reports its
    receipts only when stopped, so this asks the commands table)."""
    if not queued:
        return 0
    with psycopg.connect(database_url.replace("+psycopg", "")) as db:
        row = db.execute(
            "SELECT count(*) FROM commands WHERE id::text = ANY(%s) AND receipt IS NULL",
            (list(queued),),
        ).fetchone()
    return int(row[0]) if row else 0


def late_minutes(late_s: list[float]) -> dict[str, float]:
    """How late (simulated minutes) the stays on the secure side began: the server and the
    cores keeping up, or not."""
    if not late_s:
        return {}
    return {
        "p50": round(late_s[len(late_s) // 2] / 60, 1),
        "p95": round(late_s[int(len(late_s) * 0.95)] / 60, 1),
        "max": round(late_s[-1] / 60, 1),
    }


def show(result: dict[str, Any]) -> None:
    lost = result["lost"]
    log(
        f"day: {result['wall_s']} s wall ({result['wall_over_plan']}x its plan at "
        f"{result['compress']}x); {result['checkins']} check-ins of {result['checkins_scheduled']} "
        f"scheduled ({result['checkins_skipped']} skipped behind); {result['entries']} entries, "
        f"{result['transactions']} transactions (stays began late by, in simulated minutes, "
        f"{result['stays_late_simulated_min']}); commands {result['commands']['receipted']}/"
        f"{result['commands']['queued']} receipted; flags {result['flags']}"
    )
    log(
        f"nothing lost: transactions {lost['transactions']}, device events "
        f"{lost['device_events']}; audit verify {result['audit_verify']}, witness agrees "
        f"{result['witness_agrees']} {result['witness_runs']}"
    )
    log(
        f"server CPU {result['server_cpu_s']} s ({result['day_over_idle_cpu']}x idle over the "
        f"same length): {result['server_cpu_s_per_device_day']} s per device per day, "
        f"({result['server_cpu_s_per_device_day_at_schedule']} s had every check-in been made), "
        f"{result['server_cpu_ms_per_transaction']} ms per transaction, "
        f"{result['server_cpu_ms_per_request']} ms per request = "
        f"{result['request_over_trivial_cpu']}x the trivial endpoint's "
        f"{result['trivial_cpu_ms_per_request']} ms; PostgreSQL {result['postgres_cpu_s']} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10.0, help="real minutes for the day")
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--pollers", type=int, default=50, help="devices holding long polls")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--checkpoint-every", type=int, default=60, help="seconds")
    parser.add_argument("--witness-every", type=float, default=30.0, help="real seconds")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    pg_url = os.environ.get("TABARD_TEST_DATABASE_URL")
    if not pg_url:
        sys.exit("set TABARD_TEST_DATABASE_URL: the day runs on PostgreSQL")
    databases = PostgresDatabases(pg_url)
    url = databases.create()
    try:
        result = run(url, args)
    finally:
        databases.drop(url)
    show(result)
    print(json.dumps({"benchmark": "force_day", "cpus": os.cpu_count(), **result}, sort_keys=True))


if __name__ == "__main__":
    main()
