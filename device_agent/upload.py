"""Uploading the outbox (docs/device-protocol.md §7), so that it never stalls for good.

- Events the server kept (or already had) leave the outbox.
- Conflicts (another event signed by this device key holds their numbers: a copy of this
  device's state is in use elsewhere) are renumbered from the server's `resequence_from`,
  keeping their ids, and sent again at once, signed afresh under their new numbers.
- An event the server says is not a valid event (422 naming it) is set aside with the reason,
  kept on the device and shown in the agent's status; the rest flows on.
- A batch too large for the server (413) goes again in halves.
- Any other refusal that retrying cannot change (the device retired, a signature the server
  does not accept) stops uploading: `stalled` says why, until the agent restarts or is asked
  to upload again. Everything else (no network, 5xx) is the caller's to retry with backoff."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from device_agent.client import ServerClient
from device_agent.errors import AgentError, ServerError, ServerUnavailableError
from device_agent.outbox import Outbox, OutboxEvent

UPLOAD_BATCH = 200
# Rounds of renumbering within one upload: each follows another copy taking the numbers just
# offered, which ends as soon as one copy pauses; past this, back off like any failure.
MAX_RENUMBER_ROUNDS = 20
# Refusals that say nothing about the events: the next attempt may pass.
TRANSIENT_STATUSES = frozenset({408, 425, 429})
TRANSIENT_CODES = frozenset({"invalid_device_assertion"})  # a clock off, a replayed jti
_EVENT_FIELD = re.compile(r"^events\.(\d+)(\.|$)")
log = logging.getLogger("tabard.agent")


class OutboxStalledError(AgentError):
    """The server refuses the outbox for a reason retrying will not change."""


def _now() -> datetime:
    return datetime.now(UTC)


class Uploader:
    """Sends one outbox to the server; counts what got through; remembers a stall."""

    def __init__(
        self,
        outbox: Outbox,
        client: Callable[[], ServerClient],
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.clock = clock
        self.acknowledged = 0  # events the server has confirmed since the agent started
        self.stalled: tuple[str, str, datetime] | None = None  # code, words, since when
        self._turn = asyncio.Lock()  # one upload at a time, or two could renumber one event

    async def upload(self) -> int:
        """Send what the outbox holds, oldest first; how many the server now has."""
        async with self._turn:
            return await self._upload()

    async def _upload(self) -> int:
        sent, rounds, size = 0, 0, UPLOAD_BATCH
        while batch := self.outbox.pending(size):
            try:
                async with self.client() as client:
                    answer = await client.upload_events([event.as_protocol() for event in batch])
            except ServerError as refusal:
                size = self._after_refusal(refusal, batch, size)
                continue
            done = [str(e) for e in answer["accepted"]] + [str(e) for e in answer["duplicates"]]
            self.outbox.acknowledge(done)
            sent += len(done)
            self.acknowledged += len(done)
            if answer.get("conflicts"):
                rounds += 1
                if rounds > MAX_RENUMBER_ROUNDS:
                    raise AgentError("another copy of this device keeps taking the same numbers")
                self._renumber(answer["conflicts"], answer.get("resequence_from"))
            elif not done:
                raise AgentError("the server kept none of the batch and said nothing of why")
        self.stalled = None
        return sent

    def _renumber(self, conflicts: list[dict[str, Any]], start: object) -> None:
        if not isinstance(start, int):
            raise self._stall(
                "conflicts_unresolved",
                f"the server refused {len(conflicts)} events as conflicts without saying "
                "which numbers are free (it predates renumbering)",
            )
        moved = self.outbox.resequence(
            [str(c["event_id"]) for c in conflicts], start=start, at=self.clock().isoformat()
        )
        log.warning(
            "the server holds other events under %d of this device's sequence numbers: a copy "
            "of this device's state is in use elsewhere (IT is told). Renumbered them %d to %d "
            "and sending them again",
            len(moved),
            moved[0][1] if moved else start,
            moved[-1][1] if moved else start,
        )

    def _after_refusal(self, refusal: ServerError, batch: list[OutboxEvent], size: int) -> int:
        """Set aside what can never be accepted, or re-raise; the batch size to go on with."""
        if isinstance(refusal, ServerUnavailableError) or refusal.status in TRANSIENT_STATUSES:
            raise refusal
        if refusal.status == 401 and refusal.code in TRANSIENT_CODES:
            raise refusal
        if refusal.status == 413 and size > 1:
            return max(1, size // 2)
        index = 0 if refusal.status == 413 else _refused_index(refusal)
        if index is not None and index < len(batch):
            event = batch[index]
            problem = "too large for the server" if refusal.status == 413 else _words(refusal)
            self.outbox.refuse(event.event_id, problem=problem, at=self.clock().isoformat())
            log.error("the server refused outbox event %d for good: %s", event.seq, problem)
            return size
        raise self._stall(refusal.code, _words(refusal))

    def _stall(self, code: str, message: str) -> OutboxStalledError:
        self.stalled = (code, message, self.clock())
        return OutboxStalledError(message)

    def status(self) -> dict[str, Any]:
        """The outbox as the agent's status shows it, in words a person reads."""
        stalled = None
        if self.stalled is not None:
            _, message, since = self.stalled
            stalled = f"{message} (since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        return {
            "outbox_pending": self.outbox.count(),
            "outbox_refused": len(self.outbox.refused()),
            "outbox_renumbered": self.outbox.resequenced(),
            "outbox_stalled": stalled,
        }


def _refused_index(refusal: ServerError) -> int | None:
    """The batch index of the one event a 422 names as not a valid event, if it names one."""
    if refusal.status != 422 or not isinstance(refusal.detail, list):
        return None
    indexes = {
        int(match.group(1))
        for problem in refusal.detail
        if isinstance(problem, dict)
        and (match := _EVENT_FIELD.match(str(problem.get("field", "")))) is not None
    }
    return min(indexes) if indexes else None


def _words(refusal: ServerError) -> str:
    """The server's reason in plain words: its message, or each field with its problem."""
    detail = refusal.detail
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        said = detail["message"]
    elif isinstance(detail, list):
        said = "; ".join(
            f"{problem.get('field')}: {problem.get('problem')}"
            for problem in detail
            if isinstance(problem, dict)
        )
    else:
        said = str(detail) if detail else ""
    return f"{refusal.code} ({refusal.status}){': ' + said if said else ''}"
