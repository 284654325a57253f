"""A fleet of agents that do nothing but wait for commands, run in its own process.

Each agent keeps one keep-alive connection and, as the real agent does, asks
`GET /api/v1/device/commands?wait=25` with a freshly signed assertion, again the moment an
answer comes. An answer carrying envelopes is opened (the server's ES256 signature verified
with the command-signing key, the device id checked), and a receipt signed with the device key
goes back on the same connection. The time each receipt was accepted is kept, by command id,
for the driver to set against the time it queued the command. Raw asyncio streams keep the
generator's own cost well below the server's.

With a broker (`broker_url`), each agent instead asks once with `wait=0`, learns its wake-up
subject from the answer (docs/device-protocol.md section 8.6) and holds no poll: on each
wake-up it connects, fetches with `wait=0`, returns its receipts and hangs up, as an agent
does whose keep-alive connection the server has long since closed. The process's agents share
one connection to the broker, one subscription each (a real fleet has a connection per device;
the server's side, which is what is measured, is the same)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import multiprocessing.synchronize
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
import nats
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate

from bench._load import DeviceCredentials, device_assertion, read_response, request_bytes

POLL_WAIT_S = 25
POLL_PATH = "/api/v1/device/commands"


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


@dataclass
class _Fleet:
    """What this process's agents share."""

    host: str
    signer: Any
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    answered_once: asyncio.Event = field(default_factory=asyncio.Event)
    receipts: dict[str, float] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    answered: int = 0
    agents: int = 0

    def first_answer(self) -> None:
        self.answered += 1
        if self.answered == self.agents:
            self.answered_once.set()

    async def run_all(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        device: DeviceCredentials,
        key: Any,
        envelopes: list[str],
    ) -> None:
        for envelope in envelopes:
            status = await _run(reader, writer, self.host, device, key, self.signer, envelope)
            self.statuses[f"receipt {status}"] += 1
            if status == 200:
                self.receipts[_claims(envelope)["command_id"]] = time.time()


async def _agent(fleet: _Fleet, port: int, device: DeviceCredentials, delay: float) -> None:
    """An agent holding a long poll, reconnecting whenever its connection is lost."""
    key = serialization.load_pem_private_key(device.key_pem, password=None)
    await asyncio.sleep(delay)
    counted = False  # the first answer this agent had, for `answered_once`
    while not fleet.stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(fleet.host, port)
        except OSError as exc:  # as a real agent does: count it, back off, connect again
            fleet.statuses[f"connect failed: {type(exc).__name__}"] += 1
            await asyncio.sleep(random.uniform(1, 3))
            continue
        try:
            # The first ask answers at once: every agent known to be authenticated and served.
            wait = POLL_WAIT_S if counted else 0
            while not fleet.stop.is_set():
                status, answer = await _poll(reader, writer, fleet.host, device, key, wait)
                fleet.statuses[f"poll {status}"] += 1
                if not counted:
                    counted = True
                    fleet.first_answer()
                wait = POLL_WAIT_S
                if status != 200:
                    await asyncio.sleep(1)
                    continue
                await fleet.run_all(reader, writer, device, key, answer["commands"])
        except (OSError, asyncio.IncompleteReadError) as exc:
            fleet.statuses[f"connection lost: {type(exc).__name__}"] += 1
            await asyncio.sleep(random.uniform(0, 1))
        finally:
            writer.close()


async def _listener(
    fleet: _Fleet, port: int, device: DeviceCredentials, delay: float, broker: Any
) -> None:
    """An agent that listens for wake-ups on the broker and fetches on each."""
    key = serialization.load_pem_private_key(device.key_pem, password=None)
    await asyncio.sleep(delay)
    woken = asyncio.Event()

    async def wake(_: Any) -> None:
        woken.set()

    subscribed = False
    while not fleet.stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(fleet.host, port)
        except OSError as exc:
            fleet.statuses[f"connect failed: {type(exc).__name__}"] += 1
            await asyncio.sleep(random.uniform(1, 3))
            continue
        try:
            woken.clear()
            status, answer = await _poll(reader, writer, fleet.host, device, key, 0)
            fleet.statuses[f"fetch {status}"] += 1
            if status != 200:
                await asyncio.sleep(1)
                continue
            await fleet.run_all(reader, writer, device, key, answer["commands"])
        except (OSError, asyncio.IncompleteReadError) as exc:
            fleet.statuses[f"connection lost: {type(exc).__name__}"] += 1
            continue
        finally:
            writer.close()
        if not subscribed:
            await broker.subscribe(answer["wakeup"]["subject"], cb=wake)
            await broker.flush()
            subscribed = True
            fleet.first_answer()
        await woken.wait()


async def _poll(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    device: DeviceCredentials,
    key: Any,
    wait: int,
) -> tuple[int, dict[str, Any]]:
    """One authenticated fetch of commands (a long poll with `wait`): status and answer."""
    auth = device_assertion(device, key, "GET", POLL_PATH)
    writer.write(request_bytes("GET", f"{POLL_PATH}?wait={wait}", host, auth=auth))
    status, body = await read_response(reader)
    return status, json.loads(body) if status == 200 else {}


async def _run(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    device: DeviceCredentials,
    key: Any,
    signer: Any,
    envelope: str,
) -> int:
    """Verify an envelope and return its signed receipt: the status the receipt got."""
    claims = jwt.decode(envelope, signer, algorithms=["ES256"], audience=device.device_id)
    assert claims["device_id"] == device.device_id
    path = f"{POLL_PATH}/{claims['command_id']}/receipt"
    receipt = json.dumps({"receipt": signed_receipt(device, key, envelope, claims)}).encode()
    auth = device_assertion(device, key, "POST", path)
    writer.write(request_bytes("POST", path, host, receipt, auth=auth))
    status, _ = await read_response(reader)
    return status


def _claims(envelope: str) -> dict[str, Any]:
    """An envelope's claims, already verified."""
    claims: dict[str, Any] = jwt.decode(envelope, options={"verify_signature": False})
    return claims


async def _fleet(
    host: str,
    agents_at: list[tuple[int, DeviceCredentials]],
    signer_pem: str,
    ready: multiprocessing.synchronize.Event,
    measuring: multiprocessing.synchronize.Event,
    finish: multiprocessing.synchronize.Event,
    stagger_s: float,
    broker_url: str | None,
) -> dict[str, Any]:
    raise_file_limit()
    fleet = _Fleet(host, load_pem_x509_certificate(signer_pem.encode()).public_key())
    fleet.agents = len(agents_at)
    rng = random.Random(11 + len(agents_at))
    broker = await nats.connect(broker_url, pending_size=64 << 20) if broker_url else None
    agents = [
        asyncio.create_task(
            _agent(fleet, port, d, rng.uniform(0, stagger_s))
            if broker is None
            else _listener(fleet, port, d, rng.uniform(0, stagger_s), broker)
        )
        for port, d in agents_at
    ]
    while not fleet.answered_once.is_set():  # say how it goes: thousands take a while
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fleet.answered_once.wait(), timeout=15)
        print(
            f"  agents answered once: {fleet.answered} of {fleet.agents}; {dict(fleet.statuses)}",
            file=sys.stderr,
        )
    ready.set()
    counted = "poll 200" if broker is None else "fetch 200"
    polls_before: int | None = None
    while not finish.is_set():
        if polls_before is None and measuring.is_set():
            polls_before = fleet.statuses[counted]
        await asyncio.sleep(0.1)
    polls_measured = fleet.statuses[counted] - (polls_before or 0)
    fleet.stop.set()
    for agent in agents:
        agent.cancel()
    await asyncio.gather(*agents, return_exceptions=True)
    if broker is not None:
        await broker.close()
    return {
        "receipts": fleet.receipts,
        "statuses": dict(fleet.statuses),
        "polls_measured": polls_measured,
    }


def raise_file_limit() -> int:
    """Let this process hold as many sockets as the system allows (the soft RLIMIT_NOFILE
    raised to the hard one): thousands of agents, or a server holding their polls."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def hold_polls(
    host: str,
    agents_at: list[tuple[int, DeviceCredentials]],
    signer_pem: str,
    ready: multiprocessing.synchronize.Event,
    measuring: multiprocessing.synchronize.Event,
    finish: multiprocessing.synchronize.Event,
    stagger_s: float = 0.0,
    broker_url: str | None = None,
) -> dict[str, Any]:
    """Hold a long poll per device (or, with `broker_url`, listen there for its wake-ups),
    each on the server at its port, until `finish`; `ready` once every device has been
    answered once. Each agent starts at a random moment in the first `stagger_s` seconds (a
    fleet that has been running a while polls out of step; 0 is every agent at once, as after
    a server restart). Returns each receipt's acceptance time (epoch
    seconds) by command id, and how many polls were answered between `measuring` and `finish`."""
    return asyncio.run(
        _fleet(host, agents_at, signer_pem, ready, measuring, finish, stagger_s, broker_url)
    )
