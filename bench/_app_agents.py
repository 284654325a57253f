"""Light agents for the app-delivery bench: each a device as the server sees it over the
protocol (an EC P-256 key and the device assertions of docs/device-protocol.md section 3, not
the real agent), enrolled over HTTP, that long-polls for an `install_app` envelope, downloads
its APK streaming and hashing as it reads, and posts a signed receipt (sections 8.4 and 8.5).
The server's signature on the envelope is not checked: bench/delivery.py measures the command
path, and here the bytes are the point."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

POLL_PATH = "/api/v1/device/commands"
POLL_WAIT_S = 60
CHUNK = 1 << 16
ENROL_CONCURRENCY = 16
RETRIES = 3


@dataclass
class Agent:
    """A device as the server sees it over the protocol: its key and what it was given."""

    device_id: str
    audience: str
    key: ec.EllipticCurvePrivateKey

    def assertion(self, method: str, path: str) -> dict[str, str]:
        issued = int(time.time())
        claims = {
            "iss": self.device_id,
            "sub": self.device_id,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + 30,
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": path,
        }
        return {"Authorization": f"Bearer {jwt.encode(claims, self.key, algorithm='ES256')}"}

    def receipt(self, envelope: str, claims: dict[str, Any]) -> str:
        params = claims["params"]
        now = int(time.time())
        body = {
            "iss": self.device_id,
            "command_id": claims["command_id"],
            "envelope_sha256": hashlib.sha256(envelope.encode()).hexdigest(),
            "result": "succeeded",
            "executed_at": now,
            "evidence": {
                "package": params["package"],
                "profile": params["profile"],
                "version_code": params["version_code"],
                "sha256": params["sha256"],
            },
            "error": None,
            "iat": now,
        }
        return jwt.encode(body, self.key, algorithm="ES256", headers={"typ": "tabard-receipt+jwt"})


@dataclass
class Downloads:
    """What the downloads of one phase came to."""

    sizes: list[int] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    retries: int = 0

    @property
    def seconds(self) -> float:
        return max(self.ended) - min(self.started) if self.ended else 0.0

    @property
    def bytes_per_s(self) -> float:
        return sum(self.sizes) / self.seconds if self.seconds else 0.0


async def download(
    http: httpx.AsyncClient,
    url: str,
    headers: Callable[[], dict[str, str]],
    sha256: str,
    size: int,
    downloads: Downloads,
) -> bool:
    """GET `url` streaming, hashing as it reads; whether it was exactly `size` bytes with
    SHA-256 `sha256`. A connection the server closed under a reused request is tried again
    from the start (a keep-alive race, counted in `retries`), at most RETRIES times."""
    for _ in range(RETRIES):
        try:
            return await _download_once(http, url, headers(), sha256, size, downloads)
        except httpx.TransportError:
            downloads.retries += 1
    downloads.failures.append("download cut")
    return False


async def _download_once(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    sha256: str,
    size: int,
    downloads: Downloads,
) -> bool:
    digest = hashlib.sha256()
    received = 0
    started = time.monotonic()
    async with http.stream("GET", url, headers=headers) as answer:
        if answer.status_code != 200:
            downloads.failures.append(f"download {answer.status_code}")
            return False
        async for chunk in answer.aiter_raw(CHUNK):
            digest.update(chunk)
            received += len(chunk)
    downloads.started.append(started)
    downloads.ended.append(time.monotonic())
    downloads.sizes.append(received)
    if received != size or digest.hexdigest() != sha256:
        downloads.failures.append("digest_mismatch")
        return False
    return True


async def _send(
    http: httpx.AsyncClient, method: str, path: str, agent: Agent, downloads: Downloads, **kw: Any
) -> httpx.Response:
    """One request with a fresh assertion, tried again when the connection was cut."""
    for _ in range(RETRIES - 1):
        try:
            return await http.request(method, path, headers=agent.assertion(method, path), **kw)
        except httpx.TransportError:
            downloads.retries += 1
    return await http.request(method, path, headers=agent.assertion(method, path), **kw)


async def run_agent(
    http: httpx.AsyncClient,
    agent: Agent,
    slots: asyncio.Semaphore,
    answered: list[int],
    all_answered: asyncio.Event,
    downloads: Downloads,
    installed: dict[str, float],
) -> None:
    """Poll until an `install_app` envelope comes, download its APK, send its receipt."""
    wait = 0  # the first ask answers at once: every agent known to be authenticated
    while True:
        answer = await _send(http, "GET", POLL_PATH, agent, downloads, params={"wait": wait})
        if wait == 0:
            answered[0] += 1
            if answered[0] == answered[1]:
                all_answered.set()
            wait = POLL_WAIT_S
        if answer.status_code != 200:
            downloads.failures.append(f"poll {answer.status_code}")
            await asyncio.sleep(1)
            continue
        for envelope in answer.json()["commands"]:
            claims = jwt.decode(envelope, options={"verify_signature": False})
            if claims["type"] != "install_app":
                continue
            params = claims["params"]
            path = f"/api/v1/device/apps/{params['sha256']}"
            async with slots:
                whole = await download(
                    http,
                    path,
                    functools.partial(agent.assertion, "GET", path),
                    params["sha256"],
                    params["size"],
                    downloads,
                )
            if not whole:
                return
            path = f"{POLL_PATH}/{claims['command_id']}/receipt"
            receipt = {"receipt": agent.receipt(envelope, claims)}
            accepted = await _send(http, "POST", path, agent, downloads, json=receipt)
            if accepted.status_code != 200:
                downloads.failures.append(f"receipt {accepted.status_code}")
                return
            installed[agent.device_id] = time.monotonic()
            return


def client(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(300, connect=60))


def csr_for(key: ec.EllipticCurvePrivateKey) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


async def enrol(url: str, headers: dict[str, str], count: int) -> list[Agent]:
    """`count` devices enrolled over HTTP with one enrolment token."""
    async with client(url, ENROL_CONCURRENCY) as http:
        answer = await http.post(
            "/api/v1/enrolment-tokens", headers=headers, json={"group": "bench", "uses": count}
        )
        answer.raise_for_status()
        token = answer.json()["token"]
        slots = asyncio.Semaphore(ENROL_CONCURRENCY)

        async def one(number: int) -> Agent:
            key = ec.generate_private_key(ec.SECP256R1())
            facts = {
                "serial": f"BENCH{number:08d}",
                "manufacturer": "samsung",
                "model": "SM-J530F",
                "android_version": "7.0",
                "sdk": 24,
                "warranty_bit": 0,
            }
            body = {"token": token, "csr": csr_for(key), "facts": facts}
            async with slots:
                enrolled = await http.post("/api/v1/device/enrol", json=body)
            enrolled.raise_for_status()
            return Agent(enrolled.json()["device_id"], enrolled.json()["audience"], key)

        return list(await asyncio.gather(*(one(n) for n in range(count))))
