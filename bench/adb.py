"""ADB against a virtual device: shell round trips per second over adb-shell, and push and
pull throughput, each against a raw-TCP baseline measured in the same run.

The device runs in its own process (`tabard virtual-device`), as do the baseline servers, so
the client and the server each have a core. Ends with one JSON line.

    python bench/adb.py [--seconds 10] [--megabytes 16]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adb_shell.adb_device import AdbDevice
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.transport.tcp_transport import TcpTransport

from device_agent.adb import NoDelayTcpTransport

TIMEOUT_S = 30.0
CHUNK = 64 * 1024


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- baselines: an echo server and a sink, plain asyncio TCP in another process ------------


async def _serve(port_out: Any) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(8)
        remaining = int.from_bytes(header, "little")
        while remaining:
            remaining -= len(await reader.read(min(remaining, 1 << 20)))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    echo_server = await asyncio.start_server(echo, "127.0.0.1", 0)
    sink_server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port_out.put((echo_server.sockets[0].getsockname()[1], sink_server.sockets[0].getsockname()[1]))
    await asyncio.Event().wait()


def baseline_server(port_out: Any) -> None:
    asyncio.run(_serve(port_out))


def tcp_round_trips(port: int, seconds: float) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        latencies = []
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            started = time.perf_counter()
            sock.sendall(b"echo ok\n")
            received = b""
            while len(received) < 8:
                received += sock.recv(64)
            latencies.append(time.perf_counter() - started)
        return latencies


def tcp_throughput(port: int, size: int) -> float:
    data = os.urandom(CHUNK)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.perf_counter()
        sock.sendall(size.to_bytes(8, "little"))
        for _ in range(size // CHUNK):
            sock.sendall(data)
        assert sock.recv(2) == b"ok"
        return size / (time.perf_counter() - started) / 1e6


# -- adb --------------------------------------------------------------------------------


def connect(host: str, port: int, signer: PythonRSASigner, *, nodelay: bool) -> AdbDevice:
    transport_class = NoDelayTcpTransport if nodelay else TcpTransport
    adb = AdbDevice(transport_class(host, port), default_transport_timeout_s=TIMEOUT_S)
    adb.connect(rsa_keys=[signer], auth_timeout_s=TIMEOUT_S, read_timeout_s=TIMEOUT_S)
    return adb


def shell_round_trips(adb: AdbDevice, seconds: float) -> list[float]:
    latencies = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        started = time.perf_counter()
        assert adb.shell("echo ok", timeout_s=TIMEOUT_S) == "ok\n"
        latencies.append(time.perf_counter() - started)
    return latencies


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


def start_device(model: str) -> tuple[subprocess.Popen[str], str, int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tabard",
            "virtual-device",
            "--model",
            model,
            "--port",
            "0",
            "--json",
            "--accept-new-keys",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    host, port = json.loads(process.stdout.readline())["address"].rsplit(":", 1)
    return process, host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--megabytes", type=int, default=16)
    parser.add_argument("--model", default="SM-J530F")
    args = parser.parse_args()
    size = args.megabytes * 1024 * 1024

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    baseline = context.Process(target=baseline_server, args=(ports,), daemon=True)
    baseline.start()
    echo_port, sink_port = ports.get(timeout=30)
    device, host, port = start_device(args.model)
    try:
        with tempfile.TemporaryDirectory() as keys:
            keygen(str(Path(keys) / "adbkey"))
            signer = PythonRSASigner.FromRSAKeyPath(str(Path(keys) / "adbkey"))
            stock = connect(host, port, signer, nodelay=False)
            log(f"shell round trips, stock adb-shell, for {args.seconds:.0f} s")
            shell_stock = summary(shell_round_trips(stock, args.seconds), args.seconds)
            stock.close()
            adb = connect(host, port, signer, nodelay=True)
            log(f"shell round trips, TCP_NODELAY, for {args.seconds:.0f} s (after 1 s warm-up)")
            shell_round_trips(adb, 1.0)
            shell = summary(shell_round_trips(adb, args.seconds), args.seconds)
            log("raw TCP round trips (baseline)")
            tcp = summary(tcp_round_trips(echo_port, args.seconds), args.seconds)

            payload = os.urandom(size)
            log(f"push and pull of {args.megabytes} MiB, three times each")
            push_rates, pull_rates = [], []
            for _ in range(3):
                started = time.perf_counter()
                adb.push(io.BytesIO(payload), "/data/local/tmp/bench.bin", read_timeout_s=TIMEOUT_S)
                push_rates.append(size / (time.perf_counter() - started) / 1e6)
                pulled = io.BytesIO()
                started = time.perf_counter()
                adb.pull("/data/local/tmp/bench.bin", pulled, read_timeout_s=TIMEOUT_S)
                pull_rates.append(size / (time.perf_counter() - started) / 1e6)
                assert pulled.getvalue() == payload
            tcp_rate = statistics.median(tcp_throughput(sink_port, size) for _ in range(3))
            adb.close()
    finally:
        device.terminate()
        device.wait(timeout=30)
        baseline.terminate()

    push, pull = statistics.median(push_rates), statistics.median(pull_rates)
    result = {
        "benchmark": "adb",
        "model": args.model,
        "cpus": os.cpu_count(),
        "shell": shell,
        "shell_stock_adb_shell": shell_stock,
        "tcp_echo": tcp,
        "shell_vs_tcp_ratio": round(shell["per_s"] / tcp["per_s"], 4),
        "push_mb_per_s": round(push, 1),
        "pull_mb_per_s": round(pull, 1),
        "tcp_mb_per_s": round(tcp_rate, 1),
        "push_vs_tcp_ratio": round(push / tcp_rate, 4),
    }
    log(
        f"shell {shell['per_s']}/s (p50 {shell['p50_ms']} ms; stock adb-shell "
        f"{shell_stock['per_s']}/s), tcp echo {tcp['per_s']}/s; "
        f"push {push:.1f} MB/s, pull {pull:.1f} MB/s, tcp {tcp_rate:.1f} MB/s"
    )
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
