"""A small HTTP/1.1 keep-alive load generator, run in its own process.

Raw asyncio streams instead of an HTTP client library, so that the generator's own cost per
request stays far below the server's and the figures describe the server."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    key_pem: bytes
    audience: str


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_s": round(self.per_second, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response (Content-Length framed, as uvicorn sends): status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status, _ = await read_response(reader)
    return status


async def _run(
    host: str,
    port: int,
    make_request: Callable[[], bytes],
    *,
    connections: int,
    warmup_s: float,
    seconds: float,
) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (now := time.perf_counter()) < stop_at:
                request = make_request()
                sent = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                done = time.perf_counter()
                if now >= measure_from:
                    latencies.append(done - sent)
                    statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        statuses=dict(statuses),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
    )


def device_assertion(device: DeviceCredentials, key: Any, method: str, path: str) -> str:
    """A fresh device assertion (docs/device-protocol.md section 3) for one request."""
    issued = int(time.time())
    claims = {
        "iss": device.device_id,
        "sub": device.device_id,
        "aud": device.audience,
        "iat": issued,
        "exp": issued + 30,
        "jti": uuid.uuid4().hex,
        "htm": method,
        "htu": path,
    }
    return jwt.encode(claims, key, algorithm="ES256")


def enrol_one(http: httpx.Client, token: str, number: int) -> DeviceCredentials:
    """Enrol one benchmark J5 (serial BENCH<number>) with a fresh key, over HTTP."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "b")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    facts = {
        "serial": f"BENCH{number:08d}",
        "manufacturer": "samsung",
        "model": "SM-J530F",
        "android_version": "7.0",
        "sdk": 24,
        "warranty_bit": 0,
    }
    answer = http.post("/api/v1/device/enrol", json={"token": token, "csr": csr, "facts": facts})
    answer.raise_for_status()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    enrolled = answer.json()
    return DeviceCredentials(enrolled["device_id"], pem, enrolled["audience"])


def on_each_backend(run: Callable[[str, str | None], dict[str, Any]]) -> dict[str, Any]:
    """`run(name, database_url)` on SQLite, and on a fresh PostgreSQL database when
    TABARD_TEST_DATABASE_URL is set: the figures by backend."""
    from tests.databases import PostgresDatabases

    results = {"sqlite": run("sqlite", None)}
    pg_url = os.environ.get("TABARD_TEST_DATABASE_URL")
    if pg_url:
        databases = PostgresDatabases(pg_url)
        url = databases.create()
        try:
            results["postgresql"] = run("postgresql", url)
        finally:
            databases.drop(url)
    return results


def request_bytes(
    method: str,
    path: str,
    host: str,
    body: bytes = b"",
    auth: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# A J5 2017 meeting examples/policies/fleet-baseline.yaml (a patch a month old).
POSTURE = {
    "model": "SM-J530F",
    "android_version": "7.0",
    "sdk": 24,
    "security_patch": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400)),
    "knox_version": "2.8",
    "warranty_bit": 0,
    "encrypted": True,
    "screen_lock": {"secure": True, "type": "pin", "length": 6},
    "usb_debugging": False,
    "developer_options": False,
    "unknown_sources": False,
    "apps": {
        "personal": [f"com.example.personal{n}" for n in range(40)],
        "work": [
            "uk.police.tabard.gate",
            "uk.police.pnc.mobile",
            "uk.police.pocketbook",
            "uk.police.incidents",
            "uk.police.statements",
            "com.android.settings",
            "com.google.android.gms",
            "com.sec.android.app.camera",
        ],
    },
    # The managed apps' versions, as the agent reports them since minimum versions arrived.
    "app_versions": {
        "work": {
            "uk.police.tabard.gate": 7,
            "uk.police.pnc.mobile": 42,
            "uk.police.pocketbook": 12,
            "uk.police.incidents": 9,
            "uk.police.statements": 3,
        }
    },
    "management_mode": "device_owner_knox_workspace",
    "policy_version_applied": 1,
    "outbox_position": 0,
}
# One device in ten has left USB debugging on: failing within grace, it is evaluated afresh at
# every check-in, as a real fleet's few failing devices are.
FAILING_EVERY = 10


def checkin_load(
    host: str,
    port: int,
    devices: list[DeviceCredentials],
    connections: int,
    warmup_s: float,
    seconds: float,
) -> dict[str, Any]:
    """Authenticated check-ins, round-robin over the devices, a fresh assertion each."""
    path = "/api/v1/device/checkin"
    keys = [serialization.load_pem_private_key(device.key_pem, password=None) for device in devices]
    counter = iter(range(10**12))

    def make_request() -> bytes:
        index = next(counter) % len(devices)
        device = devices[index]
        assertion = device_assertion(device, keys[index], "POST", path)
        posture = {**POSTURE, "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if index % FAILING_EVERY == 0:
            posture["usb_debugging"] = True
        body = json.dumps({"posture": posture}).encode()
        return request_bytes("POST", path, f"{host}:{port}", body, assertion)

    result = asyncio.run(
        _run(host, port, make_request, connections=connections, warmup_s=warmup_s, seconds=seconds)
    )
    return result.as_dict()


def trivial_load(
    host: str, port: int, connections: int, warmup_s: float, seconds: float
) -> dict[str, Any]:
    """The baseline: a trivial FastAPI endpoint (GET /api/v1/health) on the same server."""
    request = request_bytes("GET", "/api/v1/health", f"{host}:{port}")
    result = asyncio.run(
        _run(
            host, port, lambda: request, connections=connections, warmup_s=warmup_s, seconds=seconds
        )
    )
    return result.as_dict()
