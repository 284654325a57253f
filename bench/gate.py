"""Secure-side entry time: online (the agent against `tabard serve` on loopback) and offline
(the PIN-wrapped key), with the deliberate PIN key-derivation cost reported apart.

Two servers run in turn: one with production Argon2id (t=3, 64 MiB, p=4) and the agent's
production scrypt (N=2^15), and one with both set to almost nothing. The second is "the rest
of the path": HTTP, the device assertion, the gate's checks, the ECIES envelope, the container
and the outbox. The KDFs are also timed on their own. The baseline, measured in the same run,
is a round trip to the server's trivial health endpoint. Ends with one JSON line.

    python bench/gate.py [--entries 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device_agent.agent import Agent
from device_agent.enrolment import enrol
from device_agent.keys import SCRYPT_N, unwrap_offline, wrap_offline
from device_agent.payload import EnrolmentPayload
from device_agent.platform import open_platform
from device_agent.state import AgentState
from mdm_server.config import Settings
from mdm_server.crypto.passwords import PasswordHasher
from tests.e2e.harness import Tabard

PASSWORD = "one button to the secure side"  # noqa: S105 - a throwaway benchmark account
COLLAR, PIN, NEW_PIN = "7001", "402917", "583062"
PRODUCTION = {
    "TABARD_ARGON2_MEMORY_KIB": "65536",
    "TABARD_ARGON2_TIME_COST": "3",
    "TABARD_ARGON2_PARALLELISM": "4",
}
CHEAP = {
    "TABARD_ARGON2_MEMORY_KIB": "8",
    "TABARD_ARGON2_TIME_COST": "1",
    "TABARD_ARGON2_PARALLELISM": "1",
}
POLICY = {
    "name": "gate",
    "secure_side": {"offline_grace_hours": 12},
    "appropriate_use": {"policy_text_version": "1", "policy_text": "Policing only."},
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
    }


def timed(action: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def prepare(tabard: Tabard, root: Path, policy_document: dict[str, Any] = POLICY) -> AgentState:
    """An officer with a PIN, the policy, and an agent enrolled and assigned to them."""
    tabard.login("bench", PASSWORD)
    tabard.run(
        "users",
        "create",
        "--username",
        "pc-7001",
        "--role",
        "officer",
        "--collar",
        COLLAR,
        "--division",
        "north",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    tabard.run("users", "set-pin", COLLAR, "--pin-stdin", stdin=PIN + "\n")
    policy = root / "gate.json"
    policy.write_text(json.dumps(policy_document))
    tabard.run("policy", "apply", str(policy), "--to", "fleet")
    token = json.loads(
        tabard.run("tokens", "create", "--group", "gate", "--officer", COLLAR, "--json").stdout
    )
    state = AgentState(root / "agent")
    asyncio.run(
        enrol(
            EnrolmentPayload.parse(json.dumps(token["payload"])),
            state=state,
            platform=open_platform("virtual:SM-J530F", state.directory),
        )
    )
    return state


def measure(env: dict[str, str], scrypt_n: int, entries: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tabard = Tabard(root, extra_env=env)
        tabard.bootstrap("bench", PASSWORD)
        with tabard.serving():
            state = prepare(tabard, root)
            agent = Agent(state)
            agent.secure.kdf_n = scrypt_n
            loop = asyncio.new_event_loop()
            loop.run_until_complete(agent.check_in())
            loop.run_until_complete(
                agent.enter(collar=COLLAR, pin=PIN, new_pin=NEW_PIN, acknowledge="1")
            )
            loop.run_until_complete(agent.leave())

            def enter_and_lock() -> None:
                loop.run_until_complete(agent.enter(collar=COLLAR, pin=NEW_PIN))
                agent.secure.lock()

            online = timed(enter_and_lock, entries)
            with httpx.Client(base_url=tabard.url) as http:
                health = timed(lambda: http.get("/api/v1/health").raise_for_status(), entries * 5)
            agent.transport = httpx.MockTransport(_unreachable)
            offline = timed(enter_and_lock, entries)
            agent.close()
            loop.close()
    return {
        "online": percentiles(online),
        "offline": percentiles(offline),
        "health": percentiles(health),
    }


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("offline", request=request)


def kdf_costs(count: int) -> dict[str, Any]:
    settings = Settings(argon2_time_cost=3, argon2_memory_kib=65536, argon2_parallelism=4)
    hasher = PasswordHasher(settings)
    stored = hasher.hash(PIN)
    from datetime import UTC, datetime, timedelta

    until = datetime.now(UTC) + timedelta(hours=1)
    wrapped = wrap_offline(
        bytes(32),
        pin=PIN,
        device_id="d",
        key_id="k",
        collar_number=COLLAR,
        until=until,
        max_failures=5,
    )
    return {
        "argon2id_verify": percentiles(timed(lambda: hasher.verify(stored, PIN), count)),
        "scrypt_derive": percentiles(timed(lambda: unwrap_offline(wrapped, PIN), count)),
    }


def show(name: str, figures: dict[str, float]) -> None:
    log(f"{name:24} p50 {figures['p50_ms']:7.1f} ms   p95 {figures['p95_ms']:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=60)
    args = parser.parse_args()
    log("timing the KDFs alone...")
    kdf = kdf_costs(max(10, args.entries // 3))
    log("production KDFs...")
    production = measure(PRODUCTION, SCRYPT_N, args.entries)
    log("near-zero KDFs (the rest of the path)...")
    rest = measure(CHEAP, 2**2, args.entries)
    baseline = production["health"]["p50_ms"]
    result = {
        "entries": args.entries,
        "online_production": production["online"],
        "offline_production": production["offline"],
        "kdf_alone": kdf,
        "online_rest_of_path": rest["online"],
        "offline_rest_of_path": rest["offline"],
        "health_round_trip": production["health"],
        "rest_online_p95_over_health_p50": round(rest["online"]["p95_ms"] / baseline, 1),
    }
    for name in (
        "online_production",
        "offline_production",
        "online_rest_of_path",
        "offline_rest_of_path",
        "health_round_trip",
    ):
        log(
            f"{name:24} p50 {result[name]['p50_ms']:7.1f} ms   p95 {result[name]['p95_ms']:7.1f} ms"
        )
    for name, figures in kdf.items():
        log(f"{name:24} p50 {figures['p50_ms']:7.1f} ms   p95 {figures['p95_ms']:7.1f} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
