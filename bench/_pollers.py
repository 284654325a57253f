"""A fleet of agents that do nothing but hold command long polls, run in its own process.

Each agent keeps one keep-alive connection and, as the real agent does, asks
`GET /api/v1/device/commands?wait=25` with a freshly signed assertion, again the moment an
answer comes. An answer carrying envelopes is opened (the server's ES256 signature verified
with the command-signing key, the device id checked), and a receipt signed with the device key
goes back on the same connection. The time each receipt was accepted is kept, by command id,
for the driver to set against the time it queued the command. Raw asyncio streams keep the
generator's own cost well below the server's."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing.synchronize
import random
import time
from collections import Counter
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate

from bench._load import DeviceCredentials, device_assertion, read_response, request_bytes

POLL_WAIT_S = 25


def signed_receipt(
    device: DeviceCredentials, key: Any, envelope: str, claims: dict[str, Any]
) -> str:
    now = int(time.time())
    body = {
        "iss": device.device_id,
        "command_id": claims["command_id"],
        "envelope_sha256": hashlib.sha256(envelope.encode()).hexdigest(),
        "result": "succeeded",
        "executed_at": now,
        "evidence": {"secure_side_locked": True},
        "error": None,
        "iat": now,
    }
    return jwt.encode(body, key, algorithm="ES256", headers={"typ": "tabard-receipt+jwt"})


async def _agent(
    host: str,
    port: int,
    device: DeviceCredentials,
    signer: Any,
    stop: asyncio.Event,
    answered_once: asyncio.Event,
    receipts: dict[str, float],
    statuses: Counter[str],
    first: list[int],
    delay: float,
) -> None:
    key = serialization.load_pem_private_key(device.key_pem, password=None)
    poll_path = "/api/v1/device/commands"
    await asyncio.sleep(delay)
    reader, writer = await asyncio.open_connection(host, port)
    wait = 0  # the first ask answers at once: every agent known to be authenticated and served
    try:
        while not stop.is_set():
            auth = device_assertion(device, key, "GET", poll_path)
            writer.write(request_bytes("GET", f"{poll_path}?wait={wait}", host, auth=auth))
            status, body = await read_response(reader)
            statuses[f"poll {status}"] += 1
            if wait == 0:
                first[0] += 1
                if first[0] == first[1]:
                    answered_once.set()
                wait = POLL_WAIT_S
            if status != 200:
                await asyncio.sleep(1)
                continue
            for envelope in json.loads(body)["commands"]:
                claims = jwt.decode(
                    envelope, signer, algorithms=["ES256"], audience=device.device_id
                )
                assert claims["device_id"] == device.device_id
                path = f"{poll_path}/{claims['command_id']}/receipt"
                receipt = json.dumps(
                    {"receipt": signed_receipt(device, key, envelope, claims)}
                ).encode()
                auth = device_assertion(device, key, "POST", path)
                writer.write(request_bytes("POST", path, host, receipt, auth=auth))
                status, _ = await read_response(reader)
                statuses[f"receipt {status}"] += 1
                if status == 200:
                    receipts[claims["command_id"]] = time.time()
    except (ConnectionError, asyncio.IncompleteReadError):
        statuses["connection lost"] += 1
    finally:
        writer.close()


async def _fleet(
    host: str,
    port: int,
    devices: list[DeviceCredentials],
    signer_pem: str,
    ready: multiprocessing.synchronize.Event,
    finish: multiprocessing.synchronize.Event,
    stagger_s: float,
) -> dict[str, Any]:
    signer = load_pem_x509_certificate(signer_pem.encode()).public_key()
    rng = random.Random(11)
    stop = asyncio.Event()
    answered_once = asyncio.Event()
    receipts: dict[str, float] = {}
    statuses: Counter[str] = Counter()
    first = [0, len(devices)]
    agents = [
        asyncio.create_task(
            _agent(
                host,
                port,
                d,
                signer,
                stop,
                answered_once,
                receipts,
                statuses,
                first,
                rng.uniform(0, stagger_s),
            )
        )
        for d in devices
    ]
    await answered_once.wait()
    ready.set()
    while not finish.is_set():
        await asyncio.sleep(0.1)
    stop.set()
    for agent in agents:
        agent.cancel()
    await asyncio.gather(*agents, return_exceptions=True)
    return {"receipts": receipts, "statuses": dict(statuses)}


def hold_polls(
    host: str,
    port: int,
    devices: list[DeviceCredentials],
    signer_pem: str,
    ready: multiprocessing.synchronize.Event,
    finish: multiprocessing.synchronize.Event,
    stagger_s: float = 0.0,
) -> dict[str, Any]:
    """Hold a long poll per device until `finish`; `ready` once every device has been answered
    once. Each agent starts at a random moment in the first `stagger_s` seconds (a fleet that
    has been running a while polls out of step; 0 is every agent at once, as after a server
    restart). Returns each receipt's acceptance time (epoch seconds) by command id."""
    return asyncio.run(_fleet(host, port, devices, signer_pem, ready, finish, stagger_s))
