"""Reports kept as drafts in the encrypted container, and sent, each once, when the server can
be reached (docs/officer.md, docs/device-protocol.md §6.3).

Every report is kept as a draft before it is sent, under an id given once, on the device, and
sent with it as `draft_id`. The draft is marked sent only after the server's answer. A crash, a
flat battery or a lost signal between the two leaves it a draft, and it is sent again under
the same id: the server answers with the report it already filed and files nothing twice. So
"mark after send" never loses a report, and the server's de-duplication on the id makes it
never file one twice."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from device_agent.container import Container
from device_agent.errors import ServerError, UnreachableError

DRAFT = "report_draft"  # kept, not yet filed
SENT = "report_sent"  # filed; the answer's reference kept beside it
REFUSED = "report_refused"  # the server refused it: kept, never sent again
KEPT_MESSAGE = "kept as a draft; it will be sent when the server is back"
# Refusals that say the session, or another request filing the same draft, not the report,
# is the trouble: the draft waits for the next time.
WAIT = ("session_ended", "invalid_session", "draft_in_flight")
Send = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def is_filing(body: dict[str, Any]) -> bool:
    """A new report (not a search, an update or an annotation): what may wait as a draft."""
    return body.get("report") is not None


def keep(container: Container, body: dict[str, Any], *, now: str) -> dict[str, Any]:
    """Keep a report as a draft under an id of its own; the draft as kept."""
    draft_id = str(uuid.uuid4())
    draft = {"draft_id": draft_id, "body": {**body, "draft_id": draft_id}, "kept_at": now}
    container.put(draft_id, DRAFT, draft, now=now)
    return draft


def kept_answer(draft: dict[str, Any]) -> dict[str, Any]:
    """What the officer is told of a report kept as a draft."""
    return {
        "draft": {
            "id": draft["draft_id"],
            "type": draft["body"]["type"],
            "kept_at": draft["kept_at"],
        },
        "message": KEPT_MESSAGE,
    }


def mark_sent(
    container: Container,
    draft: dict[str, Any],
    answer: dict[str, Any],
    *,
    now: str,
    later: bool,
) -> None:
    """The server filed it: keep its reference (`later`: sent after being kept offline)."""
    container.put(
        draft["draft_id"],
        SENT,
        {
            "draft_id": draft["draft_id"],
            "type": draft["body"]["type"],
            "kept_at": draft["kept_at"],
            "sent_at": now,
            "later": later,
            "transaction_id": str(answer["transaction_id"]),
            "reference": answer.get("result", {}).get("reference"),
            "justification": answer.get("justification"),  # asked of a sampled transaction
        },
        now=now,
    )


def justified(container: Container, request_id: str, *, now: str) -> None:
    """A sent draft's request for further justification is answered: no longer asked."""
    for record_id, _, _ in container.records(SENT):
        record = container.get(record_id)
        asked = (record or {}).get("justification") or {}
        if record is not None and str(asked.get("id")) == request_id:
            container.put(record_id, SENT, {**record, "justification": None}, now=now)


def mark_refused(container: Container, draft: dict[str, Any], why: str, *, now: str) -> None:
    """The server refused it for good: keep it, with why, and never send it again."""
    container.put(
        draft["draft_id"],
        REFUSED,
        {**draft, "refused_at": now, "why": why},
        now=now,
    )


def waiting(container: Container) -> list[dict[str, Any]]:
    """The drafts still to send, oldest first."""
    ids = [record_id for record_id, _, _ in container.records(DRAFT)]
    drafts = [container.get(record_id) for record_id in reversed(ids)]
    return [draft for draft in drafts if draft is not None]


def count_waiting(container: Container) -> int:
    return sum(1 for _ in container.records(DRAFT))


def sent_later(container: Container, *, since: str) -> list[dict[str, Any]]:
    """Drafts sent since `since` after waiting for the server, and those it refused, oldest
    first: what the screen lists as sent while the officer was offline."""
    found: list[dict[str, Any]] = []
    for kind in (SENT, REFUSED):
        for record_id, _, updated_at in container.records(kind):
            if updated_at < since:
                continue
            record = container.get(record_id)
            if record is None or not (kind == REFUSED or record.get("later")):
                continue
            if kind == REFUSED:  # what was refused and why; the report itself stays inside
                record = {
                    "draft_id": record["draft_id"],
                    "type": record["body"]["type"],
                    "kept_at": record["kept_at"],
                    "refused_at": record["refused_at"],
                    "why": record["why"],
                    "justification": None,
                }
            found.append({**record, "refused": kind == REFUSED})
    return sorted(found, key=lambda record: str(record.get("sent_at") or record["refused_at"]))


async def send_waiting(container: Container, send: Send, *, now: Callable[[], str]) -> int:
    """Send the drafts still waiting, oldest first, until the server cannot be reached or the
    session is gone (they wait for the next time); how many were filed or refused."""
    done = 0
    for draft in waiting(container):
        try:
            answer = await send(draft["body"])
        except UnreachableError:
            break
        except ServerError as refusal:
            if refusal.code in WAIT:
                break
            mark_refused(container, draft, refusal.code, now=now())
        else:
            mark_sent(container, draft, answer, now=now(), later=True)
        done += 1
    return done
