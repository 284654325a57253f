"""Command delivery to a fleet holding long polls: enqueue-to-receipt latency and the server's
memory, with 2,000 agents polling one `tabard serve` (uvicorn, one worker).

Runs on SQLite (and on PostgreSQL when TABARD_TEST_DATABASE_URL is set). Enrols the devices
over HTTP; the agents run in a separate process (bench/_pollers.py) and each holds
`GET /api/v1/device/commands?wait=25`, verifies every envelope and returns a signed receipt.
The driver queues `lock_secure_side` to one device at a time through the staff API, at a
steady rate, and measures from sending the request to queue it until the device's receipt
was accepted. The baseline is the same with a single agent polling the same server, measured
first; the server's resident memory is read from /proc before any poll, with one, and with
every agent's poll held. Ends with one JSON line.

    python bench/delivery.py [--agents 2000] [--commands 300] [--rate 10]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import DeviceCredentials, on_each_backend
from bench._pollers import hold_polls
from bench.checkin import PASSWORD, enrol_devices, log
from tests.e2e.harness import Tabard

SETTLE_S = 3.0  # after every agent was answered once, for their long polls to be taken up


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


class Fleet:
    """The agents' process, holding polls for `devices` until stopped."""

    def __init__(
        self, tabard: Tabard, devices: list[DeviceCredentials], signer_pem: str, stagger_s: float
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.manager = context.Manager()
        self.ready = self.manager.Event()
        self.finish = self.manager.Event()
        self.pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
        self.future = self.pool.submit(
            hold_polls,
            "127.0.0.1",
            tabard.port,
            devices,
            signer_pem,
            self.ready,
            self.finish,
            stagger_s,
        )

    def wait_ready(self) -> None:
        while not self.ready.wait(1):
            if self.future.done():
                self.future.result()  # raises what went wrong
                raise RuntimeError("the agents' process ended early")
        time.sleep(SETTLE_S)

    def stop(self) -> dict[str, Any]:
        self.finish.set()
        result: dict[str, Any] = self.future.result(timeout=120)
        self.pool.shutdown()
        self.manager.shutdown()
        return result


def drive(
    http: httpx.Client, headers: dict[str, str], targets: list[str], rate: float
) -> dict[str, float]:
    """Queue `lock_secure_side` to each target in turn at `rate` per second: the time each
    request was sent, by command id."""
    sent: dict[str, float] = {}
    interval = 1 / rate
    next_at = time.monotonic()
    for device_id in targets:
        next_at += interval
        started = time.time()
        answer = http.post(
            "/api/v1/commands",
            headers=headers,
            json={"type": "lock_secure_side", "target": {"devices": [device_id]}},
        )
        answer.raise_for_status()
        (command,) = answer.json()["commands"]
        sent[command["id"]] = started
        time.sleep(max(0.0, next_at - time.monotonic()))
    return sent


def measure(
    tabard: Tabard,
    http: httpx.Client,
    headers: dict[str, str],
    devices: list[DeviceCredentials],
    signer_pem: str,
    commands: int,
    rate: float,
    stagger_s: float = 0.0,
) -> tuple[dict[str, Any], float]:
    """Latencies with `devices` polling, and the server's memory with their polls held."""
    fleet = Fleet(tabard, devices, signer_pem, stagger_s)
    fleet.wait_ready()
    assert tabard.server_pid is not None
    held = memory_mib(tabard.server_pid)
    rng = random.Random(7)
    targets = [rng.choice(devices).device_id for _ in range(commands)]
    sent = drive(http, headers, targets, rate)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = http.get("/api/v1/commands", headers=headers, params={"state": "delivered"})
        queued = http.get("/api/v1/commands", headers=headers, params={"state": "queued"})
        if states.json()["total"] == 0 and queued.json()["total"] == 0:
            break
        time.sleep(0.5)
    result = fleet.stop()
    receipts = result["receipts"]
    latencies = [receipts[c] - sent[c] for c in sent if c in receipts]
    figures = percentiles(latencies) if latencies else {"n": 0}
    figures["missing"] = len(sent) - len(latencies)
    figures["statuses"] = result["statuses"]
    return figures, held


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tabard-bench-") as root:
        tabard = Tabard(
            Path(root),
            database_url=database_url,
            extra_env={"TABARD_CHECKIN_INTERVAL_S": "3600", "TABARD_ACCESS_LOG": "false"},
        )
        tabard.bootstrap("bench", PASSWORD)
        with (
            tabard.serving("--workers", "1"),
            httpx.Client(base_url=tabard.url, timeout=60) as http,
        ):
            log(f"[{name}] enrolling {args.agents} devices")
            devices = enrol_devices(tabard.url, args.agents)
            login = http.post(
                "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            signer_pem = http.get("/api/v1/ca").json()["command_certificate"]
            assert tabard.server_pid is not None
            idle = memory_mib(tabard.server_pid)

            log(f"[{name}] baseline: one agent polling, {args.baseline_commands} commands")
            baseline, one = measure(
                tabard, http, headers, devices[:1], signer_pem, args.baseline_commands, args.rate
            )
            log(
                f"[{name}] {args.agents} agents polling (started over {args.stagger} s), "
                f"{args.commands} commands at {args.rate}/s"
            )
            loaded, held = measure(
                tabard, http, headers, devices, signer_pem, args.commands, args.rate, args.stagger
            )
            peak = memory_mib(tabard.server_pid, "VmHWM")
    memory = {
        "idle_mib": round(idle, 1),
        "one_poll_mib": round(one, 1),
        "all_polls_mib": round(held, 1),
        "peak_mib": round(peak, 1),
        "kib_per_poll": round((held - idle) * 1024 / args.agents, 1),
    }
    ratio = loaded["p99_ms"] / baseline["p99_ms"] if loaded.get("p99_ms") else None
    log(
        f"[{name}] one agent: p50 {baseline.get('p50_ms')} ms p99 {baseline.get('p99_ms')} ms; "
        f"{args.agents} agents: p50 {loaded.get('p50_ms')} ms p99 {loaded.get('p99_ms')} ms "
        f"(missing {loaded['missing']}); p99 ratio {ratio and round(ratio, 2)}; memory {memory}"
    )
    return {
        "baseline_one_agent": baseline,
        "agents": loaded,
        "p99_ratio": round(ratio, 2) if ratio else None,
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--baseline-commands", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="commands queued per second")
    parser.add_argument(
        "--stagger",
        type=float,
        default=25.0,
        help="seconds over which the agents start polling (0: all at once, as after a restart)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "delivery",
        "workers": 1,
        "agents": args.agents,
        "commands": args.commands,
        "rate_per_s": args.rate,
        "stagger_s": args.stagger,
        "cpus": os.cpu_count(),
    }
    results.update(on_each_backend(lambda name, url: run_backend(name, url, args)))
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
