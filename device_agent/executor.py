"""Running commands: verify each envelope, run it once through the Platform, sign a receipt,
and get the receipt to the server (again later if it does not get through)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from device_agent import apps, ca_chain
from device_agent.client import ServerClient
from device_agent.commands import (
    Command,
    EnvelopeRefusedError,
    Journal,
    Signers,
    envelope_kid,
    sign_receipt,
)
from device_agent.errors import AgentError, ServerError, UnreachableError
from device_agent.identity import DeviceIdentity
from device_agent.platform.base import Platform
from device_agent.secure import ATTEMPTS_FILE, Clock, SecureSide
from device_agent.state import AgentState, EnrolmentRecord

log = logging.getLogger("tabard.agent")
Handler = Callable[[Command, ServerClient], Awaitable[dict[str, Any]]]


class CommandHost(Protocol):
    """What the executor needs of the agent it runs commands for (device_agent.agent.Agent):
    the executor depends on this, not on the agent, so the agent alone imports the other."""

    state: AgentState
    record: EnrolmentRecord
    identity: DeviceIdentity
    platform: Platform
    secure: SecureSide
    lock: asyncio.Lock
    clock: Clock
    executor: Executor

    def client(self) -> ServerClient: ...
    def event(self, kind: str, **detail: Any) -> None: ...
    async def leave(self, reason: str = "leave") -> dict[str, Any]: ...
    async def report(self, client: ServerClient) -> dict[str, Any]: ...
    def applied_policy(self) -> dict[str, Any]: ...
    async def apply_policy(self, client: ServerClient) -> None: ...
    def shred(self, *, reason: str, key_id: str | None) -> dict[str, Any]: ...
    def keep_platform(self) -> None: ...


class Executor:
    """The agent's command executor."""

    def __init__(self, agent: CommandHost) -> None:
        self.agent = agent
        self.signers = Signers(agent.state)
        self.journal = Journal(agent.state)
        self.wiped_at: datetime | None = None
        self.interrupted: list[str] = []  # envelopes cut off half-way, to carry on next time
        self.handlers: dict[str, Handler] = {
            "lock_device": self._lock_device,
            "lock_secure_side": self._lock_secure_side,
            "wipe_secure_side": self._wipe_secure_side,
            "wipe_device": self._wipe_device,
            "reset_passcode": self._reset_passcode,
            "clear_pin_lockout": self._clear_pin_lockout,
            "sync_policy": self._sync_policy,
            "request_posture": self._request_posture,
            "locate": self._locate,
            "retire": self._retire,
            "install_app": self._install_app,
            "update_app": self._update_app,
            "remove_app": self._remove_app,
        }

    @property
    def reset_reported(self) -> bool:
        """A factory reset ran and the server has its receipt: time to forget everything."""
        return self.wiped_at is not None and not self.journal.unsent()

    async def run(self, envelopes: list[str], client: ServerClient) -> list[dict[str, Any]]:
        """Run each envelope in order, after any cut off last time (while still valid; the
        server sends them again once they expire); what became of each (`ran`, `repeated`,
        `refused`, `interrupted`)."""
        outcomes = []
        again, self.interrupted = self.interrupted, []
        for envelope in [*again, *envelopes]:
            outcomes.append(await self._run_one(envelope, client))
        await self.send_unsent(client)
        return outcomes

    async def _run_one(self, envelope: str, client: ServerClient) -> dict[str, Any]:
        agent = self.agent
        now = agent.clock()
        try:
            await self._know_signer(envelope, client, now)
            command = self.signers.verify(envelope, device_id=agent.record.device_id, now=now)
        except EnvelopeRefusedError as refusal:
            log.warning("refused a command envelope: %s", refusal)
            agent.event("command.refused", reason=refusal.code, message=str(refusal))
            return {"outcome": "refused", "reason": refusal.code, "message": str(refusal)}
        if self.journal.receipt(command.id) is not None:
            return {"outcome": "repeated", "command_id": command.id}
        handler = self.handlers.get(command.type)
        try:
            if handler is None:
                raise AgentError(f"this agent does not know the command {command.type!r}")
            evidence, result, error = await handler(command, client), "succeeded", None
        except UnreachableError as exc:
            # Cut off half-way (an APK's download, say): no receipt. The next poll carries on
            # with it, and once its envelope expires the server sends the command again.
            log.warning("command %s interrupted: %s", command.id, exc)
            self.interrupted.append(envelope)
            return {"outcome": "interrupted", "command_id": command.id, "type": command.type}
        except AgentError as exc:
            evidence = getattr(exc, "evidence", {})
            result, error = "failed", str(exc) or type(exc).__name__
        agent.keep_platform()  # what it changed on the device (a lock, say) survives a restart
        executed = agent.clock()
        receipt = sign_receipt(
            agent.identity,
            command,
            result=result,
            evidence=evidence,
            error=error,
            executed_at=executed,
        )
        self.journal.keep(command, receipt, result)
        agent.event(
            "command.executed",
            command_id=command.id,
            command_type=command.type,
            result=result,
            error=error,
        )
        return {"outcome": "ran", "command_id": command.id, "type": command.type, "result": result}

    async def _know_signer(self, envelope: str, client: ServerClient, now: datetime) -> None:
        """Fetch the server's command-signing certificate if the envelope names one we do not
        hold (first use, or a new key); it is trusted only if the pinned CA (or one its links
        lead to) issued it and, once a signer is held, the published handovers lead to it
        from that one."""
        kid = envelope_kid(envelope)
        if kid is None or self.signers.knows(kid):
            return
        published = await client.fetch_ca()
        signer = published.get("command_certificate")
        handovers = published.get("command_handovers") or []
        if isinstance(signer, str):
            try:
                # A new signer may be issued by a new device CA: follow its links first.
                ca_chain.follow_published(self.agent.state, published)
                if not isinstance(handovers, list):
                    raise AgentError("the server's command handovers are not a list")
                self.signers.trust(signer, now=now, handovers=[str(h) for h in handovers])
            except AgentError as exc:
                raise EnvelopeRefusedError("untrusted_signer", str(exc)) from None

    async def send_unsent(self, client: ServerClient) -> int:
        """Send the receipts the server has not acknowledged yet."""
        sent = 0
        for command_id, receipt in self.journal.unsent():
            try:
                await client.submit_receipt(command_id, receipt)
            except ServerError as exc:
                if exc.status >= 500 or exc.status == 401:
                    raise
                log.warning("the server refused the receipt for %s: %s", command_id, exc)
            self.journal.sent(command_id)
            sent += 1
        return sent

    # --- the commands --------------------------------------------------------------------
    async def _lock_device(self, command: Command, _: ServerClient) -> dict[str, Any]:
        was_open = self.agent.secure.open is not None
        await self.agent.leave("remote_lock")
        self.agent.platform.lock_device()
        return {"screen_locked": True, "secure_side_was_open": was_open}

    async def _lock_secure_side(self, command: Command, _: ServerClient) -> dict[str, Any]:
        was_open = self.agent.secure.open is not None
        await self.agent.leave("remote_lock")
        stopped = True
        try:
            self.agent.platform.lock_secure_side()
        except AgentError:
            stopped = False  # no profile to stop (a Knox-less 7.x device): the gate is locked
        return {"secure_side_locked": True, "was_open": was_open, "profile_stopped": stopped}

    async def _wipe_secure_side(self, command: Command, _: ServerClient) -> dict[str, Any]:
        held = self.agent.secure.held_key_id()
        async with self.agent.lock:
            return self.agent.shred(reason=f"command {command.id}", key_id=held)

    async def _wipe_device(self, command: Command, client: ServerClient) -> dict[str, Any]:
        evidence = await self._wipe_secure_side(command, client)
        self.agent.platform.factory_reset()
        self.agent.keep_platform()
        self.wiped_at = self.agent.clock()
        return {"factory_reset": True, "secure_side": evidence}

    async def _reset_passcode(self, command: Command, _: ServerClient) -> dict[str, Any]:
        return {"screen_lock_removed": self.agent.platform.reset_passcode()}

    async def _clear_pin_lockout(self, command: Command, _: ServerClient) -> dict[str, Any]:
        path = self.agent.state.path(ATTEMPTS_FILE)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return {"offline_lockout_cleared": existed}

    async def _sync_policy(self, command: Command, client: ServerClient) -> dict[str, Any]:
        await self.agent.apply_policy(client)
        applied = self.agent.applied_policy()
        await self.agent.report(client)
        return {"policy_version": applied.get("version"), "unapplied": applied.get("unapplied")}

    async def _request_posture(self, command: Command, client: ServerClient) -> dict[str, Any]:
        await self.agent.report(client)
        return {"posture_reported": True}

    async def _locate(self, command: Command, _: ServerClient) -> dict[str, Any]:
        raise AgentError("this device has no location provider the agent may read")

    async def _retire(self, command: Command, client: ServerClient) -> dict[str, Any]:
        return await self._wipe_secure_side(command, client)

    async def _install_app(self, command: Command, client: ServerClient) -> dict[str, Any]:
        order = apps.AppOrder.from_params(command.params)
        agent = self.agent
        return await apps.install(client, agent.state, agent.platform, order, update=False)

    async def _update_app(self, command: Command, client: ServerClient) -> dict[str, Any]:
        order = apps.AppOrder.from_params(command.params)
        agent = self.agent
        return await apps.install(client, agent.state, agent.platform, order, update=True)

    async def _remove_app(self, command: Command, _: ServerClient) -> dict[str, Any]:
        return apps.remove(self.agent.platform, apps.AppOrder.from_params(command.params))


async def poll_once(agent: CommandHost, *, wait_s: int) -> list[dict[str, Any]]:
    """One long poll, then run what it brought."""
    outcomes, _ = await fetch_and_run(agent, wait_s=wait_s)
    return outcomes


async def fetch_and_run(
    agent: CommandHost, *, wait_s: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One fetch of commands (a long poll, with `wait_s`), then run what it brought: the
    outcomes, and the broker wake-up channel the server offers, if it offers one."""
    async with agent.client() as client:
        with contextlib.suppress(UnreachableError):
            await agent.executor.send_unsent(client)
        answer = await client.poll_commands(wait_s=wait_s)
        outcomes = await agent.executor.run([str(e) for e in answer.get("commands", [])], client)
        offered = answer.get("wakeup")
        return outcomes, offered if isinstance(offered, dict) else None
