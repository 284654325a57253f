"""The light agents of bench/force_day.py, run in their own process: thousands of devices as
the server sees them over the protocol (docs/device-protocol.md), on a simulated clock.

Each device checks in every five simulated minutes from a random phase, with a fresh device
assertion each time. Officers' devices also open the secure side (sections 6.1-6.4): the
officer's collar number and PIN (changing the PIN IT set and acknowledging the
appropriate-use text at their first entry), a few transactions with their purposes and
incident references, the session's two usage events signed into the outbox and uploaded
(section 7), then leave. What the server acknowledged (transaction ids, accepted event ids) is
returned for the driver to find in the audit log. Raw asyncio streams over small pools of
keep-alive connections (the secure side's apart, so a stay never queues behind the fleet's
check-ins) keep the generator's own cost below the server's; a device that falls
a whole interval behind skips to its next slot, as a real one would, and the skip is counted."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate

from bench._load import (
    FAILING_EVERY,
    POSTURE,
    DeviceCredentials,
    device_assertion,
    read_response,
    request_bytes,
)
from bench._pollers import signed_receipt

CHECKIN_PATH = "/api/v1/device/checkin"
SESSIONS_PATH = "/api/v1/device/secure-sessions"
TRANSACTIONS_PATH = "/api/v1/device/transactions"
EVENTS_PATH = "/api/v1/device/events"
IDLE_KEEPALIVE_S = 3.0  # below uvicorn's 5 s keep-alive timeout: an older connection is redone


@dataclass(frozen=True)
class Officer:
    collar: str
    pin: str
    new_pin: str
    device: int  # index into the plan's devices


@dataclass(frozen=True)
class Visit:
    """One stay on the secure side: when (simulated seconds from midnight), who, and what."""

    at_s: float
    officer: int
    transactions: list[dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    host: str
    port: int
    devices: list[DeviceCredentials]
    officers: list[Officer]
    visits: list[Visit]
    compliant: frozenset[int]  # devices that never report a failing posture
    policy_text_version: str
    signer_pem: str  # the command-signing certificate, to open envelopes with
    compress: float
    started_at: float  # epoch seconds at simulated midnight
    day_s: float = 86_400.0
    checkin_every_s: float = 300.0
    connections: int = 48  # for check-ins
    secure_connections: int = 8  # the secure side's own, so stays do not queue behind check-ins

    def real(self, simulated_s: float) -> float:
        return self.started_at + simulated_s / self.compress


class Pool:
    """Keep-alive connections shared by every agent; one request at a time on each."""

    def __init__(self, host: str, port: int, size: int, counts: Counter[str]) -> None:
        self.host, self.port, self.counts = host, port, counts
        self.free: asyncio.Queue[tuple[Any, Any, float] | None] = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(None)

    async def request(
        self,
        device: DeviceCredentials,
        key: Any,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request with a fresh assertion; tried once more on a fresh connection if a
        reused one was closed under it."""
        payload = json.dumps(body).encode() if body is not None else b""
        slot = await self.free.get()
        try:
            for attempt in (0, 1):
                if slot is None or time.monotonic() - slot[2] > IDLE_KEEPALIVE_S:
                    if slot is not None:
                        slot[1].close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    slot = (reader, writer, time.monotonic())
                reader, writer, _ = slot
                auth = device_assertion(device, key, method, path)
                writer.write(request_bytes(method, path, self.host, payload, auth, headers))
                try:
                    status, answer = await read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    slot = None
                    self.counts["reconnected"] += 1
                    if attempt:
                        raise
                    continue
                slot = (reader, writer, time.monotonic())
                self.counts["requests"] += 1
                return status, json.loads(answer) if answer else None
            raise AssertionError("unreachable")
        finally:
            self.free.put_nowait(slot)


@dataclass
class Day:
    plan: Plan
    pool: Pool
    secure_pool: Pool
    keys: list[Any]
    counts: Counter[str] = field(default_factory=Counter)
    transactions: list[str] = field(default_factory=list)  # acknowledged transaction ids
    events: list[str] = field(default_factory=list)  # accepted device event ids
    flagged_transactions: int = 0
    pin_changed: set[int] = field(default_factory=set)
    officer_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    event_seq: Counter[int] = field(default_factory=Counter)
    late_s: list[float] = field(default_factory=list)  # simulated seconds each stay began late

    def __post_init__(self) -> None:
        self.signer = load_pem_x509_certificate(self.plan.signer_pem.encode()).public_key()

    async def checkin(self, index: int) -> None:
        posture = {**POSTURE, "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if index % FAILING_EVERY == 0 and index not in self.plan.compliant:
            posture["usb_debugging"] = True
        status, answer = await self.pool.request(
            self.plan.devices[index],
            self.keys[index],
            "POST",
            CHECKIN_PATH,
            {"posture": posture},
        )
        self.counts[f"checkin {status}"] += 1
        if status == 200:
            for envelope in answer["commands"]:
                await self.command(index, envelope)

    async def command(self, index: int, envelope: str) -> None:
        """A command that came with a check-in (the fallback way, section 4): opened with the
        command-signing key and receipted, as the long-polling agents do."""
        device, key = self.plan.devices[index], self.keys[index]
        claims = jwt.decode(envelope, self.signer, algorithms=["ES256"], audience=device.device_id)
        assert claims["device_id"] == device.device_id
        path = f"/api/v1/device/commands/{claims['command_id']}/receipt"
        body = {"receipt": signed_receipt(device, key, envelope, claims)}
        status, _ = await self.pool.request(device, key, "POST", path, body)
        self.counts[f"receipt at check-in {status}"] += 1

    async def device_checkins(self, index: int, rng: random.Random) -> None:
        plan = self.plan
        every = plan.checkin_every_s
        slot = rng.uniform(0, every)
        while slot < plan.day_s:
            delay = plan.real(slot) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = min(int(-delay * plan.compress / every), int((plan.day_s - slot) // every))
                if behind:  # a whole interval or more late: check in now, skip what was missed
                    self.counts["checkins skipped"] += behind
                    slot += behind * every
            try:
                await self.checkin(index)
            except (OSError, asyncio.IncompleteReadError):
                self.counts["checkin unanswered"] += 1
            slot += every

    def signed_event(self, index: int, kind: str, detail: dict[str, Any]) -> tuple[str, str]:
        device = self.plan.devices[index]
        self.event_seq[index] += 1
        event_id = str(uuid.uuid4())
        body = {
            "event_id": event_id,
            "seq": self.event_seq[index],
            "type": kind,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": detail,
            "iss": device.device_id,
        }
        token = jwt.encode(
            body, self.keys[index], algorithm="ES256", headers={"typ": "tabard-device-event+jwt"}
        )
        return event_id, token

    async def visit(self, visit: Visit) -> None:
        plan = self.plan
        delay = plan.real(visit.at_s) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        async with self.officer_locks.setdefault(visit.officer, asyncio.Lock()):
            self.late_s.append(max(0.0, time.time() - plan.real(visit.at_s)) * plan.compress)
            try:
                await self._visit(visit)
            except (OSError, asyncio.IncompleteReadError):
                self.counts["visit cut short"] += 1

    async def _visit(self, visit: Visit) -> None:
        plan = self.plan
        officer = plan.officers[visit.officer]
        index = officer.device
        device, key = plan.devices[index], self.keys[index]
        first = visit.officer not in self.pin_changed
        entry: dict[str, Any] = {
            "collar_number": officer.collar,
            "pin": officer.pin if first else officer.new_pin,
        }
        if first:
            entry["new_pin"] = officer.new_pin
            entry["acknowledge_policy_text_version"] = plan.policy_text_version
        status, opened = await self.secure_pool.request(device, key, "POST", SESSIONS_PATH, entry)
        self.counts[f"entry {status}"] += 1
        if status != 201:
            self.counts[f"entry refused {opened and opened.get('error')}"] += 1
            return
        self.pin_changed.add(visit.officer)
        session = {"X-Tabard-Session": opened["session_token"]}
        outbox = [self.signed_event(index, "secure.entered", {"collar_number": officer.collar})]
        for body in visit.transactions:
            status, answer = await self.secure_pool.request(
                device, key, "POST", TRANSACTIONS_PATH, body, session
            )
            self.counts[f"transaction {status}"] += 1
            if status == 200:
                self.transactions.append(answer["transaction_id"])
        outbox.append(self.signed_event(index, "secure.left", {"collar_number": officer.collar}))
        status, uploaded = await self.secure_pool.request(
            device, key, "POST", EVENTS_PATH, {"events": [token for _, token in outbox]}
        )
        self.counts[f"events {status}"] += 1
        if status == 200:
            self.events += uploaded["accepted"]
        status, _ = await self.secure_pool.request(
            device, key, "POST", f"{SESSIONS_PATH}/{opened['session_id']}/end", {"reason": "leave"}
        )
        self.counts[f"leave {status}"] += 1


def _day(plan: Plan) -> Day:
    counts: Counter[str] = Counter()
    keys = [serialization.load_pem_private_key(d.key_pem, password=None) for d in plan.devices]
    return Day(
        plan,
        Pool(plan.host, plan.port, plan.connections, counts),
        Pool(plan.host, plan.port, plan.secure_connections, counts),
        keys,
        counts,
    )


async def _first_checkins(plan: Plan, indices: list[int]) -> dict[str, int]:
    day = _day(plan)
    slots = asyncio.Semaphore(plan.connections)

    async def one(index: int) -> None:
        async with slots:
            await day.checkin(index)

    await asyncio.gather(*(one(i) for i in indices))
    return dict(day.counts)


def first_checkins(plan: Plan, indices: list[int]) -> dict[str, int]:
    """One check-in of each device in `indices` at once (before the day, so officers' devices
    have been judged before anyone tries the secure side)."""
    return asyncio.run(_first_checkins(plan, indices))


async def _run_day(plan: Plan) -> dict[str, Any]:
    day = _day(plan)
    rng = random.Random(26)
    tasks = [day.device_checkins(index, rng) for index in range(len(plan.devices))]
    tasks += [day.visit(visit) for visit in plan.visits]
    await asyncio.gather(*tasks)
    return {
        "counts": dict(sorted(day.counts.items())),
        "transactions": day.transactions,
        "events": day.events,
        "stays_late_s": sorted(day.late_s),
        "finished_at": time.time(),
    }


def run_day(plan: Plan) -> dict[str, Any]:
    """The simulated day from `plan.started_at`: what was done and acknowledged."""
    return asyncio.run(_run_day(plan))
