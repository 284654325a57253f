"""App delivery to a fleet: one large APK released to every device, the server's bytes per
second and the time from the release's start to each device's receipt, against the same file
served plainly by uvicorn as the baseline.

Starts `tabard serve` (uvicorn, one worker) on SQLite in a temporary data dir, or on a fresh
PostgreSQL database next to the one `--database-url` names; creates an IT administrator;
enrols N light agents over HTTP (each an EC P-256 key and the device assertions of
docs/device-protocol.md section 3, not the real agent); uploads an APK of about `--size-mb`
MiB built by `virtual_device.apk.build_apk` through `POST /api/v1/apps`; and, with every agent
holding a long poll, starts a release of it to the fleet in one stage.

Each agent (bench/_app_agents.py) is an asyncio task over one shared httpx client. It takes
its `install_app` envelope (without checking the server's signature: the command path is
measured by bench/delivery.py, and here the bytes are the point), downloads
`GET /api/v1/device/apps/{sha256}` streaming, hashing as it reads, checks SHA-256 and size,
and posts a receipt signed with its key (section 8.4) with the evidence of section 8.5. At
most `--concurrency` downloads run at once (the polls and receipts are not limited).

The baseline, in the same run: a second uvicorn process with the same settings serving the
same bytes with Starlette's `FileResponse` (bench/_plain_files.py), the route Tabard's
download answers with, without authentication or database: N downloads, the same
concurrency, the same client code. The agents run in this process, the server in its own; on
a small machine they share the cores. Prints a table; ends with one JSON line; exits 1 if the
release did not finish with every device installed.

    python bench/apps.py [--agents 2000] [--size-mb 30] [--concurrency 200]
                         [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._app_agents import Agent, Downloads, client, download, enrol, run_agent
from bench.checkin import PASSWORD, log
from tests.e2e.harness import Tabard, free_port
from virtual_device.apk import build_apk

PACKAGE = "uk.police.bench.apps"
APK_TYPE = "application/vnd.android.package-archive"
SETTLE_S = 2.0  # after every agent was answered once, for their long polls to be taken up


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_s": round(statistics.median(ordered), 2),
        "p95_s": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_s": round(ordered[-1], 2),
    }


async def deliver(
    url: str, headers: dict[str, str], agents: list[Agent], version_code: int, concurrency: int
) -> tuple[dict[str, Any], Downloads, str, float]:
    """Hold a poll per agent, start the release, and wait for every agent to finish: the time
    to installed, the downloads, the release's id and the release's start (monotonic)."""
    downloads = Downloads()
    installed: dict[str, float] = {}
    answered = [0, len(agents)]
    all_answered = asyncio.Event()
    slots = asyncio.Semaphore(concurrency)
    async with client(url, len(agents) + 8) as http:
        tasks = [
            asyncio.create_task(
                run_agent(http, agent, slots, answered, all_answered, downloads, installed)
            )
            for agent in agents
        ]
        await all_answered.wait()
        await asyncio.sleep(SETTLE_S)
        started = time.monotonic()
        release = await http.post(
            "/api/v1/releases",
            headers=headers,
            json={
                "package": PACKAGE,
                "version_code": version_code,
                "stages": [{"name": "all", "target": {"fleet": True}}],
            },
        )
        release.raise_for_status()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            downloads.failures.append(f"agent raised {type(result).__name__}: {result}")
    times = [at - started for at in installed.values()]
    figures: dict[str, Any] = {"installed": len(installed), **(percentiles(times) if times else {})}
    return figures, downloads, release.json()["id"], started


async def plain_downloads(
    url: str, size: int, sha256: str, count: int, concurrency: int
) -> Downloads:
    """`count` downloads of the plain file, at most `concurrency` at once."""
    downloads = Downloads()
    slots = asyncio.Semaphore(concurrency)
    async with client(url, concurrency + 8) as http:

        async def one() -> None:
            async with slots:
                await download(http, "/file", dict, sha256, size, downloads)

        await asyncio.gather(*(one() for _ in range(count)))
    return downloads


@contextlib.contextmanager
def plain_server(path: Path) -> Iterator[tuple[str, int]]:
    """bench/_plain_files.py serving `path` on a free port: its URL and process id."""
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._plain_files", str(path), str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.head(f"{url}/file").status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the plain file server did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def login(http: httpx.Client) -> dict[str, str]:
    answer = http.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def upload(http: httpx.Client, headers: dict[str, str], apk: bytes) -> dict[str, Any]:
    answer = http.post(
        "/api/v1/apps",
        content=apk,
        headers={**headers, "Content-Type": APK_TYPE},
        timeout=300,
    )
    answer.raise_for_status()
    uploaded: dict[str, Any] = answer.json()
    return uploaded


def phase(downloads: Downloads, cpu: float) -> dict[str, Any]:
    return {
        "downloads": len(downloads.sizes),
        "bytes": sum(downloads.sizes),
        "seconds": round(downloads.seconds, 2),
        "mib_per_s": round(downloads.bytes_per_s / 2**20, 1),
        "server_cpu_s": round(cpu, 2),
        "failures": len(downloads.failures),
        "retries": downloads.retries,
    }


def run(
    *, agents: int, size_bytes: int, concurrency: int, database_url: str | None = None
) -> dict[str, Any]:
    """The whole bench: the figures, and whether the release finished with every device
    installed and none failed (`complete`)."""
    with tempfile.TemporaryDirectory(prefix="tabard-bench-") as directory:
        root = Path(directory)
        tabard = Tabard(
            root,
            database_url=database_url,
            extra_env={"TABARD_CHECKIN_INTERVAL_S": "3600", "TABARD_ACCESS_LOG": "false"},
        )
        tabard.bootstrap("bench", PASSWORD)
        apk = build_apk(PACKAGE, version_code=1, padding=size_bytes)
        sha256 = hashlib.sha256(apk).hexdigest()
        with (
            tabard.serving("--workers", "1"),
            httpx.Client(base_url=tabard.url, timeout=60) as http,
        ):
            assert tabard.server_pid is not None
            headers = login(http)
            log(f"enrolling {agents} devices")
            fleet = asyncio.run(enrol(tabard.url, headers, agents))
            log(f"uploading a {len(apk) / 2**20:.1f} MiB APK")
            uploaded = upload(http, headers, apk)
            log(f"releasing to {agents} agents, {concurrency} downloads at once")
            cpu_before = cpu_seconds(tabard.server_pid)
            installs, downloads, release_id, _ = asyncio.run(
                deliver(
                    tabard.url, headers, fleet, uploaded["version"]["version_code"], concurrency
                )
            )
            cpu = cpu_seconds(tabard.server_pid) - cpu_before
            release = http.get(f"/api/v1/releases/{release_id}", headers=headers).json()
            (stage,) = release["stages"]
        stored = next(root.glob(f"data/**/{sha256}.apk"), None)
        if stored is None:  # a store that is not on this disk: the same bytes
            stored = root / "plain.apk"
            stored.write_bytes(apk)
        with plain_server(stored) as (plain_url, plain_pid):
            log(f"baseline: {agents} plain downloads, {concurrency} at once")
            plain_before = cpu_seconds(plain_pid)
            plain = asyncio.run(plain_downloads(plain_url, len(apk), sha256, agents, concurrency))
            plain_cpu = cpu_seconds(plain_pid) - plain_before
    ratio = downloads.bytes_per_s / plain.bytes_per_s if plain.bytes_per_s else None
    complete = (
        release["state"] == "finished"
        and stage["installed"] == agents
        and stage["failed"] == 0
        and not downloads.failures
    )
    return {
        "agents": agents,
        "apk_bytes": len(apk),
        "concurrency": concurrency,
        "backend": "postgresql" if database_url else "sqlite",
        "release": {
            "state": release["state"],
            "installed": stage["installed"],
            "failed": stage["failed"],
            "pending": stage["pending"],
        },
        "time_to_installed": installs,
        "delivery": phase(downloads, cpu),
        "plain": phase(plain, plain_cpu),
        "ratio": round(ratio, 3) if ratio else None,
        "failures": sorted(set(downloads.failures + plain.failures)),
        "complete": complete,
    }


def table(results: dict[str, Any]) -> str:
    delivery, plain = results["delivery"], results["plain"]
    installs = results["time_to_installed"]
    rows = [
        ("", "release delivery", "plain FileResponse"),
        ("downloads", str(delivery["downloads"]), str(plain["downloads"])),
        ("wall time", f"{delivery['seconds']} s", f"{plain['seconds']} s"),
        ("MiB/s", str(delivery["mib_per_s"]), str(plain["mib_per_s"])),
        ("server CPU", f"{delivery['server_cpu_s']} s", f"{plain['server_cpu_s']} s"),
        ("ratio", str(results["ratio"]), "1"),
    ]
    lines = [f"{a:<12}{b:>20}{c:>22}" for a, b, c in rows]
    lines.append(
        f"time to installed: p50 {installs.get('p50_s')} s, p95 {installs.get('p95_s')} s, "
        f"max {installs.get('max_s')} s ({installs['installed']} of {results['agents']})"
    )
    release = results["release"]
    lines.append(
        f"release: {release['state']}, {release['installed']} installed, "
        f"{release['failed']} failed, {release['pending']} pending"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--size-mb", type=float, default=30, help="the APK's filler, in MiB")
    parser.add_argument(
        "--concurrency", type=int, default=200, help="downloads at once (polls are not limited)"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL: the bench creates a fresh database next to it and drops it "
        "after (default: SQLite in a temporary data dir)",
    )
    args = parser.parse_args()
    database_url = None
    databases = None
    if args.database_url:
        from tests.databases import PostgresDatabases

        databases = PostgresDatabases(args.database_url)
        database_url = databases.create()
    try:
        results = run(
            agents=args.agents,
            size_bytes=int(args.size_mb * 2**20),
            concurrency=args.concurrency,
            database_url=database_url,
        )
    finally:
        if databases and database_url:
            databases.drop(database_url)
    results["cpus"] = os.cpu_count()
    print(table(results))
    print(json.dumps({"benchmark": "apps", **results}, sort_keys=True))
    if not results["complete"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
