"""The agent: one long-lived object per device holding its keys in memory, and what the one
button, the CLI and the loops ask of it. The daemon (device_agent.daemon) serves it on a Unix
socket; tests drive it directly."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import httpx

from device_agent.checkin import keep_interval, load_platform
from device_agent.client import ServerClient, connections
from device_agent.errors import (
    AgentError,
    RefusedError,
    ServerError,
    UnreachableError,
    UnsupportedError,
)
from device_agent.executor import Executor
from device_agent.outbox import Outbox
from device_agent.platform.base import Platform
from device_agent.renewal import take_certificate
from device_agent.secure import Clock, SecureSide, utc_now
from device_agent.state import (
    CERT_FILE,
    ENROLMENT_FILE,
    KEY_FILE,
    PLATFORM_FILE,
    POLICY_FILE,
    WIPED_FILE,
    AgentState,
)
from device_agent.transacting import Transactions
from device_agent.upload import Uploader


class Agent(Transactions):
    def __init__(
        self,
        state: AgentState,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        platform: Platform | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.state = state
        self.record = state.enrolment()
        self.identity = state.identity()
        self.platform = platform or load_platform(state)
        self.outbox = Outbox(state.directory)
        self.secure = SecureSide(state, self.outbox, clock=clock)
        self.clock = clock
        self.transport = transport
        self.checked_in_at: datetime | None = None
        self.unreachable_since: datetime | None = None  # check-ins failing since, if they are
        self.last_lock: dict[str, str] | None = None  # why and when the secure side last locked
        self.last_refusal: dict[str, Any] | None = None  # the gate's last refusal, until an entry
        self.standing: dict[str, Any] | None = None  # compliance, as the last check-in said
        self.uploader = Uploader(self.outbox, self.client, clock=clock)
        self.outbox_changed = asyncio.Event()
        self.lock = asyncio.Lock()
        self.sending = asyncio.Lock()  # one sender of drafts at a time
        self.executor = Executor(self)
        self._http: httpx.AsyncClient | None = None  # the pool of connections to the server
        self._http_loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> ServerClient:
        """A client over the agent's one pool of connections to the server. Building an httpx
        client (its TLS context) takes some 18 ms and a new connection its handshakes: once
        per request, they were a tenth of an officer's wait at the gate. The pool belongs to
        the event loop that made it, so a new loop gets a new one."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._http_loop is not loop:
            self._http = connections(self.record.server, transport=self.transport)
            self._http_loop = loop
        return ServerClient(self.record.server, identity=self.identity, http=self._http)

    async def close_connections(self) -> None:
        """Let the pool of connections to the server go (the agent is stopping)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def event(self, kind: str, **detail: Any) -> None:
        self.secure.event(kind, **detail)
        self.outbox_changed.set()

    # --- the gate -------------------------------------------------------------------------
    async def enter(
        self,
        *,
        collar: str,
        pin: str,
        new_pin: str | None = None,
        acknowledge: str | None = None,
    ) -> dict[str, Any]:
        """Open the secure side: online through the server's gate, else offline if allowed."""
        async with self.lock:
            if self.secure.open is not None:
                self._lock_now("superseded")
            try:
                now = await self._local_checks()
                try:
                    side = await self._enter_online(collar, pin, new_pin, acknowledge, now)
                except UnreachableError:
                    side = self.secure.enter_offline(collar=collar, pin=pin, now=now)
            except (RefusedError, ServerError) as refusal:
                code = refusal.code
                self.event("secure.denied", collar_number=collar, reason=code)
                self.last_refusal = {
                    "code": code,
                    "message": refusal_message(refusal),
                    "at": self.clock().isoformat(),
                }
                raise
            self.secure.open = side
            self.last_refusal = None
            self.event(
                "secure.entered",
                collar_number=collar,
                online=side.online,
                session_id=side.session_id,
                key_id=side.container.key_id,
            )
            await self.send_drafts_quietly()
            return self.status()

    async def _local_checks(self) -> datetime:
        """The clock, and the Knox warranty bit read now (off the event loop: it is a shell
        command on the device, and the screen and the loops share this loop)."""
        now = self.secure.check_clock()
        if await asyncio.to_thread(self.platform.warranty_bit) == 1:
            raise RefusedError(
                "device_non_compliant",
                "device.warranty_bit_must_be_zero: the Knox warranty bit is blown (tampered)",
                {
                    "findings": [
                        {"rule": "device.warranty_bit_must_be_zero", "status": "non_compliant"}
                    ]
                },
            )
        return now

    async def _enter_online(
        self, collar: str, pin: str, new_pin: str | None, acknowledge: str | None, now: datetime
    ) -> Any:
        body: dict[str, Any] = {"collar_number": collar, "pin": pin}
        if new_pin is not None:
            body["new_pin"] = new_pin
        if acknowledge is not None:
            body["acknowledge_policy_text_version"] = acknowledge
        async with self.client() as client:
            answer = await client.open_secure_session(body)
        return self.secure.open_online(answer, pin=new_pin or pin, now=now)

    async def leave(self, reason: str = "leave") -> dict[str, Any]:
        """Lock the secure side and end its session."""
        async with self.lock:
            side = self._lock_now(reason)
            if side is None:
                return self.status()
            if side.session_id is not None:
                try:
                    async with self.client() as client:
                        await client.end_secure_session(side.session_id, reason)
                except AgentError:
                    pass  # the session ends on the server by itself; the outbox says when
            return self.status()

    def _lock_now(self, reason: str) -> Any:
        side = self.secure.lock()
        if side is not None:
            self._locked(reason)
            with contextlib.suppress(UnsupportedError):
                self.platform.clear_clipboard()  # nothing copied inside stays to paste outside
                self.keep_platform()
            self.event(
                "secure.left",
                collar_number=side.collar_number,
                reason=reason,
                session_id=side.session_id,
            )
        return side

    async def lock_if_due(self) -> str | None:
        """Lock the secure side if it has been idle too long or reached its maximum length."""
        side = self.secure.open
        reason = side.lock_reason(self.clock()) if side is not None else None
        if reason is not None:
            await self.leave(reason)
        return reason

    # --- check-in and the outbox ----------------------------------------------------------
    def _locked(self, reason: str) -> None:
        self.last_lock = {"reason": reason, "at": self.clock().isoformat()}

    async def check_in(self) -> dict[str, Any]:
        """Report posture; run the commands the answer carries; act on what it says about
        the container key; apply a policy version the device does not hold yet, and report
        it at once."""
        try:
            answer = await self._check_in()
        except UnreachableError:
            self.unreachable_since = self.unreachable_since or self.clock()
            raise
        await self.reconnect()
        await self.send_drafts_quietly()
        return answer

    async def reconnect(self) -> bool:
        """Turn a secure side opened offline into an online session once the server is back,
        so the drafts kept offline are sent while the officer is still inside. Tried once with
        the PIN that opened it: a refusal (the PIN changed meanwhile, a new policy text to
        acknowledge, the officer suspended) leaves the side offline, and the drafts wait for
        the officer's next entry, so a stale PIN never counts twice against them."""
        async with self.lock:
            side = self.secure.open
            if side is None or side.online or side.reconnect_pin is None:
                return False
            pin = side.reconnect_pin
            try:
                fresh = await self._enter_online(side.collar_number, pin, None, None, self.clock())
            except UnreachableError:
                return False  # still no server: the next check-in tries again
            except (RefusedError, ServerError) as refusal:
                side.reconnect_pin = None
                self.event(
                    "secure.reconnect_refused",
                    collar_number=side.collar_number,
                    reason=refusal.code,
                )
                return False
            side.container.close()
            fresh.started_at, fresh.last_activity = side.started_at, side.last_activity
            self.secure.open = fresh
            self.event(
                "secure.entered",
                collar_number=fresh.collar_number,
                online=True,
                reconnected=True,
                session_id=fresh.session_id,
                key_id=fresh.container.key_id,
            )
            return True

    async def _check_in(self) -> dict[str, Any]:
        async with self.client() as client:
            answer = await client.checkin(self._report())
            self.checked_in_at = self.clock()
            self.unreachable_since = None
            self.standing = answer.get("standing")
            self.identity = await take_certificate(
                self.state, self.identity, answer, client, now=self.clock()
            )
            self.record = keep_interval(self.state, self.record, answer)
            await self._run_commands(answer, client)
            held = self.secure.held_key_id()
            live = answer.get("container_key_id")
            if held is not None and held != live:
                self.shred(reason="key_destroyed_by_server", key_id=held)
            wanted = answer.get("policy_version")
            applied = self.applied_policy()
            if wanted is not None and (wanted != applied.get("version") or "policy" not in applied):
                await self.apply_policy(client)
                answer = await client.checkin(self._report())
                await self._run_commands(answer, client)
        return answer

    async def _run_commands(self, answer: dict[str, Any], client: ServerClient) -> None:
        if answer.get("commands"):
            await self.executor.run([str(e) for e in answer["commands"]], client)

    async def report(self, client: ServerClient) -> dict[str, Any]:
        """Report posture now (for a command asking for it); the check-in answer."""
        answer = await client.checkin(self._report())
        self.checked_in_at = self.clock()
        self.identity = await take_certificate(
            self.state, self.identity, answer, client, now=self.clock()
        )
        return answer

    def _report(self) -> dict[str, Any]:
        posture = self.platform.posture(now=self.clock().isoformat()).as_protocol()
        applied = self.applied_policy()
        if "version" in applied:
            posture["policy_version_applied"] = applied["version"]
            posture["policy_unapplied"] = applied["unapplied"][:100]
        return {**posture, "outbox_position": self.outbox.position()}

    def applied_policy(self) -> dict[str, Any]:
        """The policy version last applied and the settings it could not apply, or {}."""
        path = self.state.path(POLICY_FILE)
        return self.state.read_json(POLICY_FILE) if path.exists() else {}

    async def apply_policy(self, client: ServerClient) -> None:
        fetched = await client.policy()
        unapplied = self.platform.apply_policy(fetched["policy"])
        self.keep_platform()
        applied = {
            "version": fetched["version"],
            "digest": fetched["digest"],
            "policy": fetched["policy"],  # the screen offers the purposes it allows
            "unapplied": unapplied,
            "applied_at": self.clock().isoformat(),
        }
        self.state.write_json(POLICY_FILE, applied)
        self.event("policy.applied", version=fetched["version"], unapplied=unapplied)

    def shred(self, *, reason: str, key_id: str | None) -> dict[str, Any]:
        """Crypto-shred: remove the secure side's profile where the platform can, then the
        container and every copy of its key."""
        try:
            removed = self.platform.wipe_secure_side()
            self.keep_platform()
        except AgentError as exc:
            removed = {"error": str(exc)}
        self._locked(reason)
        evidence = self.secure.shred(reason=reason, key_id=key_id, removed=removed)
        self.outbox_changed.set()
        return evidence

    def keep_platform(self) -> None:
        self.state.write_json(PLATFORM_FILE, self.platform.save())

    async def upload(self) -> int:
        """Send what the outbox holds, oldest first; how many the server now has."""
        return await self.uploader.upload()

    @property
    def acknowledged(self) -> int:
        """Events the server has confirmed since the agent started."""
        return self.uploader.acknowledged

    def forget(self) -> None:
        """After a factory reset: nothing of the enrolment survives on the device."""
        self.secure.shred(reason="factory_reset", key_id=self.secure.held_key_id())
        for name in (ENROLMENT_FILE, KEY_FILE, CERT_FILE):
            self.state.path(name).unlink(missing_ok=True)
        self.state.write_json(
            WIPED_FILE,
            {"device_id": self.record.device_id, "wiped_at": self.clock().isoformat()},
        )

    # --- status ---------------------------------------------------------------------------
    def _lifecycle(self) -> str:
        if self.executor.wiped_at is not None:
            return "wiped"
        return "active" if self.checked_in_at is not None else "enrolled"

    def status(self) -> dict[str, Any]:
        side = self.secure.open
        offline = self.secure.offline_key()
        return {
            "device_id": self.record.device_id,
            "server": self.record.server,
            "state": self._lifecycle(),
            "secure_side": "open" if side is not None else "locked",
            "officer": side.collar_number if side else None,
            "online": side.online if side else None,
            "session_expires_at": side.expires_at.isoformat() if side else None,
            "container_key_id": self.secure.held_key_id(),
            "offline_until": offline.until if offline else None,
            **self.uploader.status(),
            "last_checkin": self.checked_in_at.isoformat() if self.checked_in_at else None,
            "unreachable_since": _iso(self.unreachable_since),
            "locks_at": _iso(min(side.expires_at, side.last_activity + side.inactivity))
            if side
            else None,
            "standing": self.standing,
            "last_lock": self.last_lock,
            "last_refusal": self.last_refusal,
            "wiped_at": _iso(self.executor.wiped_at),
            **self._drafts(),
        }

    def close(self) -> None:
        self.secure.lock()
        self.outbox.close()
        self.platform.close()


def refusal_message(refusal: RefusedError | ServerError) -> str:
    """The refusal's own sentence, without the code or status around it."""
    detail = refusal.detail
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if isinstance(detail, str) and isinstance(refusal, ServerError):
        return detail
    return str(refusal)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
