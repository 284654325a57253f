"""The agent's police transactions: searches and reports through the open session, reports
kept as drafts while the server cannot be reached and sent when it can (device_agent.drafts),
and the further justification a sampled transaction asks for."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from device_agent import drafts
from device_agent.client import ServerClient
from device_agent.errors import AgentError, RefusedError, ServerError, UnreachableError
from device_agent.secure import Clock, SecureSide


class Transactions:
    """What the Agent does with the open secure side's session."""

    secure: SecureSide
    clock: Clock
    sending: asyncio.Lock

    if TYPE_CHECKING:

        def client(self) -> ServerClient: ...

        def event(self, kind: str, **detail: Any) -> None: ...

        def _lock_now(self, reason: str) -> Any: ...

    async def transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a transaction through the open session; keep its result in the container. A
        report is kept as a draft first; if the server cannot be reached it stays one, to be
        sent when the server is back (device_agent.drafts)."""
        side = self.secure.require_open()
        side.last_activity = self.clock()
        draft = None
        if drafts.is_filing(body):
            draft = drafts.keep(side.container, body, now=self.clock().isoformat())
            body = draft["body"]
        if side.session_token is None:
            if draft is not None:
                return self._kept(draft)
            raise RefusedError(
                "offline", "offline: searches and reports need the server (drafts are kept)"
            )
        try:
            answer = await self._send(body)
        except UnreachableError:
            if draft is None:
                raise
            return self._kept(draft)
        except ServerError as refusal:
            if draft is not None and self.secure.open is side:
                drafts.mark_refused(side.container, draft, refusal.code, now=now_of(self))
            raise
        if draft is not None:
            drafts.mark_sent(side.container, draft, answer, now=now_of(self), later=False)
        return answer

    async def send_drafts_quietly(self) -> None:
        """Send waiting drafts now if it can; what it cannot send waits for the next time."""
        with contextlib.suppress(AgentError):
            await self.send_drafts()

    def _kept(self, draft: dict[str, Any]) -> dict[str, Any]:
        self.event("report.kept_as_draft", draft_id=draft["draft_id"], type=draft["body"]["type"])
        return drafts.kept_answer(draft)

    async def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        """One transaction to the server through the open session, its result kept."""
        side = self.secure.require_open()
        assert side.session_token is not None
        try:
            async with self.client() as client:
                answer = await client.transaction(body, session_token=side.session_token)
        except ServerError as refusal:
            if refusal.code == "session_ended":
                self._lock_now("session_ended")
            raise
        side.container.put(str(answer["transaction_id"]), "result", answer, now=now_of(self))
        self.event(
            "transaction",
            transaction_id=answer["transaction_id"],
            transaction_type=body.get("type"),
            purpose=body.get("purpose"),
            incident_reference=body.get("incident_reference"),
        )
        return answer

    async def send_drafts(self) -> int:
        """Send the reports kept as drafts, each once, if the secure side is open online;
        how many the server filed or refused."""
        async with self.sending:
            side = self.secure.open
            if side is None or side.session_token is None:
                return 0
            return await drafts.send_waiting(side.container, self._send, now=lambda: now_of(self))

    async def justifications(self) -> list[dict[str, Any]]:
        """The open session's officer's transactions awaiting further justification."""
        token = self._online_token()
        async with self.client() as client:
            return await client.justifications(session_token=token)

    async def division_map(self) -> dict[str, Any]:
        """The officer's division map: kinds, hours and points, the outline. Not kept."""
        side = self.secure.require_open()
        if side.session_token is None:
            raise RefusedError("offline", "offline: the map needs the server")
        async with self.client() as client:
            return await client.division_map(session_token=side.session_token)

    async def justify(self, request_id: str, answer: str) -> dict[str, Any]:
        """Answer a request for further justification (recorded by the server, once)."""
        token = self._online_token()
        side = self.secure.require_open()
        side.last_activity = self.clock()
        async with self.client() as client:
            answered = await client.justify(request_id, answer, session_token=token)
        drafts.justified(side.container, request_id, now=now_of(self))
        return answered

    def _online_token(self) -> str:
        side = self.secure.require_open()
        if side.session_token is None:
            raise RefusedError("offline", "offline: justifications need the server")
        return side.session_token

    def _drafts(self) -> dict[str, Any]:
        """The open side's reports waiting as drafts, and those sent since it opened."""
        side = self.secure.open
        if side is None:
            return {"drafts_waiting": None, "drafts_sent": []}
        return {
            "drafts_waiting": drafts.count_waiting(side.container),
            "drafts_sent": drafts.sent_later(side.container, since=side.started_at.isoformat()),
        }


def now_of(agent: Transactions) -> str:
    return agent.clock().isoformat()
