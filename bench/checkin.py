"""Authenticated check-ins per second against `tabard serve` (uvicorn, N workers, M nodes).

Starts a real server on SQLite (and on PostgreSQL when TABARD_TEST_DATABASE_URL is set),
applies the example fleet baseline policy, enrols N devices over HTTP, then drives check-ins
from a load generator in another process, and the same load against a trivial endpoint on the
same server as the baseline. Ends with one JSON line: check-ins/s, p50 and p99, the trivial
endpoint's figures, and their ratio.

With `--nodes M` (M > 1, PostgreSQL only), M `tabard serve` processes on different ports over
one database sit behind a real haproxy (Debian's package), and both loads go through it, so
the ratio compares like with like; `--balancer` puts haproxy in front of one node too.

    python bench/checkin.py [--devices 200] [--connections 32] [--seconds 15]
                            [--workers 1] [--nodes 1] [--balancer]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import DeviceCredentials, checkin_load, enrol_one, on_each_backend, trivial_load
from tests.e2e.haproxy import HAPROXY, HAProxy, nodes_sharing_keys
from tests.e2e.harness import Tabard, free_port

BASELINE = Path(__file__).resolve().parents[1] / "examples" / "policies" / "fleet-baseline.yaml"
PASSWORD = "load generator passphrase"  # noqa: S105 - a throwaway benchmark account


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def apply_fleet_baseline(http: httpx.Client, headers: dict[str, str]) -> None:
    """The example fleet baseline as the fleet policy, so each check-in is judged against it."""
    document = yaml.safe_load(BASELINE.read_text())
    stored = http.put(
        f"/api/v1/policies/{document['name']}", json={"document": document}, headers=headers
    )
    stored.raise_for_status()
    assigned = http.put(
        "/api/v1/policy-assignments/fleet", json={"policy": document["name"]}, headers=headers
    )
    assigned.raise_for_status()


def enrol_devices(url: str, count: int) -> list[DeviceCredentials]:
    with httpx.Client(base_url=url, timeout=30) as http:
        pair = http.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {pair.json()['access_token']}"}
        apply_fleet_baseline(http, headers)
        token = http.post(
            "/api/v1/enrolment-tokens", headers=headers, json={"group": "bench", "uses": count}
        ).json()["token"]
        devices = [enrol_one(http, token, number) for number in range(count)]
    return devices


@contextmanager
def serving(root: Path, database_url: str | None, args: argparse.Namespace) -> Iterator[str]:
    """The server under test, bootstrapped: one node, or `args.nodes` over one database behind
    haproxy. Yields the URL both loads are sent to."""
    env = {"TABARD_ACCESS_LOG": str(args.access_log).lower()}
    serve_args = ("--workers", str(args.workers))
    if not args.balancer:
        tabard = Tabard(root, database_url=database_url, extra_env=env)
        tabard.bootstrap("bench", PASSWORD)
        with tabard.serving(*serve_args):
            yield tabard.url
        return
    port = free_port()
    nodes = nodes_sharing_keys(
        root,
        args.nodes,
        database_url=database_url,
        public_url=f"http://127.0.0.1:{port}",
        extra_env=env,
    )
    nodes[0].bootstrap("bench", PASSWORD)
    balancer = HAProxy(root / "haproxy", [node.port for node in nodes], port=port)
    with ExitStack() as stack:
        for node in nodes:
            stack.enter_context(node.serving(*serve_args))
        balancer.start()
        stack.callback(balancer.stop)
        yield balancer.url


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    if args.nodes > 1 and database_url is None:
        log(f"[{name}] skipped: {args.nodes} nodes share one PostgreSQL database, not SQLite")
        return {"skipped": "several nodes need PostgreSQL"}
    with tempfile.TemporaryDirectory(prefix="tabard-bench-") as root:
        under_test = serving(Path(root), database_url, args)
        with under_test as url:
            port = int(url.rsplit(":", 1)[1])
            log(f"[{name}] enrolling {args.devices} devices")
            devices = enrol_devices(url, args.devices)
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as generator:
                log(f"[{name}] trivial endpoint, {args.connections} connections, {args.seconds}s")
                trivial = generator.submit(
                    trivial_load,
                    "127.0.0.1",
                    port,
                    args.connections,
                    args.warmup,
                    args.seconds,
                ).result()
                log(f"[{name}] check-ins, {args.connections} connections, {args.seconds}s")
                checkin = generator.submit(
                    checkin_load,
                    "127.0.0.1",
                    port,
                    devices,
                    args.connections,
                    args.warmup,
                    args.seconds,
                ).result()
    ratio = checkin["per_s"] / trivial["per_s"]
    log(
        f"[{name}] {args.nodes} node(s) x {args.workers} worker(s)"
        f"{' behind haproxy' if args.balancer else ''}: "
        f"check-ins {checkin['per_s']}/s p50 {checkin['p50_ms']} ms "
        f"p99 {checkin['p99_ms']} ms; trivial {trivial['per_s']}/s; ratio {ratio:.3f}"
    )
    return {"checkin": checkin, "trivial": trivial, "ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per node")
    parser.add_argument(
        "--nodes", type=int, default=1, help="`tabard serve` processes behind haproxy (PG only)"
    )
    parser.add_argument(
        "--balancer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send both loads through haproxy (default: when --nodes is above 1)",
    )
    args = parser.parse_args()
    if args.workers < 1 or args.nodes < 1:
        parser.error("--workers and --nodes must be at least 1")
    if args.balancer is None:
        args.balancer = args.nodes > 1
    if args.nodes > 1 and not args.balancer:
        parser.error("several nodes need the balancer in front of them")
    if args.balancer and HAPROXY is None:
        parser.error("the balancer is Debian's haproxy: apt-get install haproxy")
    results: dict[str, Any] = {
        "benchmark": "checkin",
        "workers": args.workers,
        "nodes": args.nodes,
        "balancer": "haproxy" if args.balancer else None,
        "devices": args.devices,
        "connections": args.connections,
        "seconds": args.seconds,
        "access_log": args.access_log,
        "cpus": os.cpu_count(),
    }
    results.update(on_each_backend(lambda name, url: run_backend(name, url, args)))
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
