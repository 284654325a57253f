"""Command delivery to a fleet holding long polls: enqueue-to-receipt latency and the server's
memory, with thousands of agents polling `tabard serve` (uvicorn, one worker per node).

Runs on SQLite (and on PostgreSQL when TABARD_TEST_DATABASE_URL is set; `--nodes 2`, two
servers over one database with the agents split between them, runs on PostgreSQL only).
Enrols the devices over HTTP, several requests at once; the agents run in separate processes
(bench/_pollers.py, about 5,000 agents each) and each holds
`GET /api/v1/device/commands?wait=25`, verifies every envelope and returns a signed receipt.
The driver queues `lock_secure_side` to one device at a time through the staff API (on each
node in turn), at a steady rate, and measures from sending the request to queue it until the
device's receipt was accepted. The baseline is the same with a single agent polling the same
server, measured first; each server's resident memory is read from /proc before any poll,
with one, and with every agent's poll held, and its CPU time over the commands' window,
divided by the polls answered in it, gives the cost of one authenticated poll. Ends with one
JSON line.

    python bench/delivery.py [--agents 2000] [--nodes 1] [--commands 300] [--rate 10]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import DeviceCredentials, enrol_one, on_each_backend
from bench._pollers import hold_polls, raise_file_limit
from bench.checkin import PASSWORD, apply_fleet_baseline, log
from tests.e2e.harness import Tabard, free_port

SETTLE_S = 3.0  # after every agent was answered once, for their long polls to be taken up
AGENTS_PER_PROCESS = 5_000  # one poller process's share: its event loop and its sockets
ENROLLING_AT_ONCE = 16
READY_TIMEOUT_S = 600.0  # for every agent to have been answered once


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _enrol_share(url: str, token: str, numbers: range) -> list[DeviceCredentials]:
    """Enrol devices `numbers` with one token, one request after another."""
    devices = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for number in numbers:
            devices.append(enrol_one(http, token, number))
    return devices


def enrol_fleet(urls: list[str], headers: dict[str, str], count: int) -> list[DeviceCredentials]:
    """Enrol `count` devices over HTTP, ENROLLING_AT_ONCE requests at a time spread over the
    nodes, each stream with its own token (one token's use count would make them queue)."""
    with httpx.Client(base_url=urls[0], timeout=60) as http:
        apply_fleet_baseline(http, headers)
        streams = min(ENROLLING_AT_ONCE, count)
        share = math.ceil(count / streams)
        tokens = [
            http.post(
                "/api/v1/enrolment-tokens", headers=headers, json={"group": "bench", "uses": share}
            ).json()["token"]
            for _ in range(streams)
        ]
    with concurrent.futures.ThreadPoolExecutor(streams) as pool:
        shares = [
            pool.submit(
                _enrol_share,
                urls[n % len(urls)],
                tokens[n],
                range(n * share, min(count, (n + 1) * share)),
            )
            for n in range(streams)
        ]
        return [device for future in shares for device in future.result()]


class Fleet:
    """The agents' processes, holding polls (agent i on node i % nodes) until stopped."""

    def __init__(
        self,
        nodes: list[Tabard],
        devices: list[DeviceCredentials],
        signer_pem: str,
        stagger_s: float,
        broker_url: str | None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        processes = math.ceil(len(devices) / AGENTS_PER_PROCESS)
        self.manager = context.Manager()
        self.ready = [self.manager.Event() for _ in range(processes)]
        self.measuring = self.manager.Event()
        self.finish = self.manager.Event()
        self.pool = concurrent.futures.ProcessPoolExecutor(processes, mp_context=context)
        placed = [(nodes[n % len(nodes)].port, device) for n, device in enumerate(devices)]
        self.futures = [
            self.pool.submit(
                hold_polls,
                "127.0.0.1",
                placed[n::processes],
                signer_pem,
                self.ready[n],
                self.measuring,
                self.finish,
                stagger_s,
                broker_url,
            )
            for n in range(processes)
        ]

    def wait_ready(self) -> None:
        give_up = time.monotonic() + READY_TIMEOUT_S
        for ready in self.ready:
            while not ready.wait(1):
                if time.monotonic() > give_up:
                    self.finish.set()
                    raise RuntimeError(
                        f"not every agent was answered within {READY_TIMEOUT_S:.0f} s: the "
                        "server cannot take the fleet up (the agents' progress is above)"
                    )
                for future in self.futures:
                    if future.done():
                        future.result()  # raises what went wrong
                        raise RuntimeError("an agents' process ended early")
        time.sleep(SETTLE_S)
        self.measuring.set()

    def stop(self) -> dict[str, Any]:
        self.finish.set()
        receipts: dict[str, float] = {}
        statuses: Counter[str] = Counter()
        polls = 0
        for future in self.futures:
            result = future.result(timeout=180)
            receipts.update(result["receipts"])
            statuses.update(result["statuses"])
            polls += result["polls_measured"]
        self.pool.shutdown()
        self.manager.shutdown()
        return {"receipts": receipts, "statuses": dict(statuses), "polls_measured": polls}


def drive(
    clients: list[httpx.Client], headers: dict[str, str], targets: list[str], rate: float
) -> dict[str, float]:
    """Queue `lock_secure_side` to each target in turn at `rate` per second, on each node in
    turn: the time each request was sent, by command id."""
    sent: dict[str, float] = {}
    interval = 1 / rate
    next_at = time.monotonic()
    for number, device_id in enumerate(targets):
        next_at += interval
        started = time.time()
        answer = clients[number % len(clients)].post(
            "/api/v1/commands",
            headers=headers,
            json={"type": "lock_secure_side", "target": {"devices": [device_id]}},
        )
        answer.raise_for_status()
        (command,) = answer.json()["commands"]
        sent[command["id"]] = started
        time.sleep(max(0.0, next_at - time.monotonic()))
    return sent


def _settled(http: httpx.Client, headers: dict[str, str]) -> bool:
    """No command left queued or delivered without its receipt."""
    return all(
        http.get("/api/v1/commands", headers=headers, params={"state": state}).json()["total"] == 0
        for state in ("delivered", "queued")
    )


def measure(
    nodes: list[Tabard],
    clients: list[httpx.Client],
    login: Callable[[], dict[str, str]],
    devices: list[DeviceCredentials],
    signer_pem: str,
    commands: int,
    rate: float,
    stagger_s: float = 0.0,
    broker_url: str | None = None,
) -> tuple[dict[str, Any], list[float]]:
    """Latencies with `devices` polling (or listening on the broker), and each server's
    memory with their polls held. `login()` gives the staff's headers afresh once the fleet
    is up: a large fleet takes longer to come up than a staff token lives."""
    fleet = Fleet(nodes, devices, signer_pem, stagger_s, broker_url)
    fleet.wait_ready()
    headers = login()
    pids = [node.server_pid for node in nodes if node.server_pid is not None]
    held = [memory_mib(pid) for pid in pids]
    cpu_before, started = sum(cpu_seconds(pid) for pid in pids), time.monotonic()
    rng = random.Random(7)
    targets = [rng.choice(devices).device_id for _ in range(commands)]
    sent = drive(clients, headers, targets, rate)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _settled(clients[0], headers):
        time.sleep(0.5)
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    window = time.monotonic() - started
    result = fleet.stop()
    receipts = result["receipts"]
    latencies = [receipts[c] - sent[c] for c in sent if c in receipts]
    figures: dict[str, Any] = percentiles(latencies) if latencies else {"n": 0}
    figures["missing"] = len(sent) - len(latencies)
    figures["statuses"] = result["statuses"]
    polls = result["polls_measured"]
    figures["polls_per_s"] = round(polls / window, 1)
    figures["server_cpu_per_s"] = round(cpu / window, 3)  # cores busy, all nodes together
    figures["server_cpu_ms_per_poll"] = round(cpu * 1000 / polls, 2) if polls else None
    return figures, held


def _nodes(
    root: Path, database_url: str | None, count: int, broker_url: str | None
) -> list[Tabard]:
    """`count` servers over one data directory and database, as nodes behind a balancer
    would be: the same keys and the same public URL (the first node's)."""
    ports = [free_port() for _ in range(count)]
    env = {
        "TABARD_CHECKIN_INTERVAL_S": "3600",
        "TABARD_ACCESS_LOG": "false",
        "TABARD_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
    }
    if broker_url:
        env["TABARD_COMMAND_BROKER_URL"] = broker_url
    return [Tabard(root, database_url=database_url, port=p, extra_env=env) for p in ports]


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    if args.nodes > 1 and database_url is None:
        return {"skipped": "several nodes need PostgreSQL"}
    with tempfile.TemporaryDirectory(prefix="tabard-bench-") as root, ExitStack() as stack:
        nodes = _nodes(Path(root), database_url, args.nodes, args.broker)
        nodes[0].bootstrap("bench", PASSWORD)
        for node in nodes:
            stack.enter_context(node.serving("--workers", "1"))
        clients = [
            stack.enter_context(httpx.Client(base_url=node.url, timeout=60)) for node in nodes
        ]

        def login() -> dict[str, str]:
            answer = clients[0].post(
                "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
            )
            answer.raise_for_status()
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        headers = login()
        log(f"[{name}] enrolling {args.agents} devices")
        enrol_started = time.monotonic()
        devices = enrol_fleet([node.url for node in nodes], headers, args.agents)
        log(f"[{name}] enrolled in {time.monotonic() - enrol_started:.0f} s")
        signer_pem = clients[0].get("/api/v1/ca").json()["command_certificate"]
        pids = [node.server_pid for node in nodes if node.server_pid is not None]
        idle = [memory_mib(pid) for pid in pids]

        log(f"[{name}] baseline: one agent polling, {args.baseline_commands} commands")
        baseline, one = measure(
            nodes,
            clients,
            login,
            devices[:1],
            signer_pem,
            args.baseline_commands,
            args.rate,
            broker_url=args.broker,
        )
        log(
            f"[{name}] {args.agents} agents {'listening' if args.broker else 'polling'} "
            f"{args.nodes} node(s) (started over "
            f"{args.stagger} s), {args.commands} commands at {args.rate}/s"
        )
        loaded, held = measure(
            nodes,
            clients,
            login,
            devices,
            signer_pem,
            args.commands,
            args.rate,
            args.stagger,
            args.broker,
        )
        peak = [memory_mib(pid, "VmHWM") for pid in pids]
    memory = {
        "idle_mib": [round(m, 1) for m in idle],
        "one_poll_mib": [round(m, 1) for m in one],
        "all_polls_mib": [round(m, 1) for m in held],
        "peak_mib": [round(m, 1) for m in peak],
        "kib_per_poll": round((sum(held) - sum(idle)) * 1024 / args.agents, 1),
    }
    ratio = loaded["p99_ms"] / baseline["p99_ms"] if loaded.get("p99_ms") else None
    # What each held poll costs the server beyond the commands: the extra CPU over the
    # one-agent run, by the extra polls answered a second.
    extra_polls = loaded["polls_per_s"] - baseline["polls_per_s"]
    extra_cpu = loaded["server_cpu_per_s"] - baseline["server_cpu_per_s"]
    loaded["marginal_cpu_ms_per_poll"] = (
        round(extra_cpu * 1000 / extra_polls, 2)
        if extra_polls > loaded["polls_per_s"] / 2  # else too few to tell from the commands
        else None
    )
    log(
        f"[{name}] one agent: p50 {baseline.get('p50_ms')} ms p99 {baseline.get('p99_ms')} ms; "
        f"{args.agents} agents: p50 {loaded.get('p50_ms')} ms p99 {loaded.get('p99_ms')} ms "
        f"max {loaded.get('max_ms')} ms (missing {loaded['missing']}); p99 ratio "
        f"{ratio and round(ratio, 2)}; {loaded['polls_per_s']} polls/s, server CPU "
        f"{loaded['server_cpu_per_s']} cores ({baseline['server_cpu_per_s']} with one agent), "
        f"{loaded['marginal_cpu_ms_per_poll']} ms a poll; "
        f"memory {memory}"
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
    parser.add_argument(
        "--nodes", type=int, default=1, help="servers over one PostgreSQL, agents split evenly"
    )
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--baseline-commands", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="commands queued per second")
    parser.add_argument(
        "--stagger",
        type=float,
        default=25.0,
        help="seconds over which the agents start polling (0: all at once, as after a restart)",
    )
    parser.add_argument(
        "--broker",
        metavar="NATS_URL",
        help="the servers publish wake-ups there and the agents listen instead of polling",
    )
    parser.add_argument(
        "--backend",
        choices=("both", "postgresql"),
        default="both",
        help="postgresql: skip the SQLite run",
    )
    args = parser.parse_args()
    raise_file_limit()  # the servers, started from here, inherit it
    results: dict[str, Any] = {
        "benchmark": "delivery",
        "workers": 1,
        "nodes": args.nodes,
        "delivery": "broker wake-ups" if args.broker else "long polls",
        "agents": args.agents,
        "commands": args.commands,
        "rate_per_s": args.rate,
        "stagger_s": args.stagger,
        "cpus": os.cpu_count(),
    }

    def run(name: str, url: str | None) -> dict[str, Any]:
        if args.backend == "postgresql" and url is None:
            return {"skipped": "--backend postgresql"}
        return run_backend(name, url, args)

    results.update(on_each_backend(run))
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
