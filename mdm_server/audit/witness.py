"""A witness for the audit log (docs/audit.md): run by professional standards, outside IT's
control. It keeps the newest checkpoint it has verified and accepts a newer one only with a
consistency proof from the one it holds; a smaller size, a second root for a size, or a proof
that fails is refused, and both notes are kept as evidence of what the server said.

When the log's checkpoint key changes, the witness follows only a chain of key-change records
(docs/audit.md) from the key it pinned, each signed by the key before and proven in the tree of
the checkpoint it accepts; it keeps the keys it held before, and the records.

State directory: `verifier-key` (the key pinned), `previous-keys` (the keys pinned before it,
oldest first), `key-changes/` (the notes that moved it on), `checkpoint` (the newest accepted
note) and `evidence/` (one folder per refusal: both notes and what was wrong)."""

from __future__ import annotations

import base64
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from mdm_server.audit import handover, merkle
from mdm_server.audit.handover import KeyChain, KeyChange
from mdm_server.audit.merkle import ProofError
from mdm_server.audit.notes import Checkpoint, NoteError, NoteVerifier

KEY_FILE = "verifier-key"
PREVIOUS_KEYS_FILE = "previous-keys"
KEY_CHANGES_DIR = "key-changes"
CHECKPOINT_FILE = "checkpoint"
EVIDENCE_DIR = "evidence"

Outcome = Literal["first", "accepted", "unchanged", "refused"]


class LogServer(Protocol):
    """What a witness needs from the log: its newest note and consistency proofs."""

    def checkpoint(self) -> str: ...

    def consistency(self, first: int, second: int) -> list[bytes]: ...

    def key_changes(self) -> list[RecordedChange]: ...

    def inclusion(self, seq: int, size: int) -> list[bytes]: ...


@dataclass(frozen=True)
class RecordedChange:
    """A key-change record as the log serves it: its place, its note, its leaf's bytes."""

    seq: int
    note: str
    canonical: bytes


class WitnessError(RuntimeError):
    """The witness cannot do its job (no pinned key, unreadable state): not a verdict."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    held: int | None  # the size held before
    offered: int
    reason: str = ""
    evidence: Path | None = None
    followed: tuple[str, ...] = ()  # the keys the log handed over to, that it now pins

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "held": self.held,
            "offered": self.offered,
            "reason": self.reason,
            "evidence": str(self.evidence) if self.evidence else None,
            "followed": list(self.followed),
        }


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _keys(links: list[KeyChange]) -> tuple[str, ...]:
    return tuple(link.new_key for link in links)


class Witness:
    def __init__(self, state: Path) -> None:
        self.state = state
        state.mkdir(parents=True, exist_ok=True, mode=0o700)

    def pinned_key(self) -> str | None:
        path = self.state / KEY_FILE
        return path.read_text(encoding="utf-8").strip() if path.exists() else None

    def pin(self, key: str) -> None:
        """Pin the log's verifier key; refuses to replace a different one already pinned."""
        NoteVerifier.parse(key)
        held = self.pinned_key()
        if held is not None and held != key.strip():
            raise WitnessError(
                f"this witness already holds the key {held}; a new key for the same log is "
                "itself a finding: start a new state directory only if the force announced it"
            )
        _write(self.state / KEY_FILE, key.strip() + "\n")

    def previous_keys(self) -> list[str]:
        path = self.state / PREVIOUS_KEYS_FILE
        return path.read_text(encoding="utf-8").split() if path.exists() else []

    def held(self) -> tuple[str, Checkpoint] | None:
        path = self.state / CHECKPOINT_FILE
        if not path.exists():
            return None
        note = path.read_text(encoding="utf-8")
        keys = [NoteVerifier.parse(key) for key in self.previous_keys()]
        try:
            return note, KeyChain((*keys, self._verifier())).open(note)
        except NoteError as exc:
            raise WitnessError(
                f"{path} no longer verifies ({exc}): the state was altered"
            ) from None

    def _verifier(self) -> NoteVerifier:
        key = self.pinned_key()
        if key is None:
            raise WitnessError("no verifier key is pinned; give --verifier-key")
        return NoteVerifier.parse(key)

    def observe(self, server: LogServer, *, now: datetime | None = None) -> Result:
        """Fetch the server's newest checkpoint and accept it, or refuse it with evidence."""
        verifier = self._verifier()
        offered_note = server.checkpoint()
        links: list[KeyChange] = []
        try:
            offered = verifier.open(offered_note, origin=verifier.name)
        except NoteError as exc:
            links, offered = self._changed_key(server, offered_note, exc)
        held = self.held()
        if held is None:
            self._take_over(links)
            _write(self.state / CHECKPOINT_FILE, offered_note)
            return Result("first", None, offered.size, followed=_keys(links))
        held_note, kept = held
        if offered.size < kept.size:
            reason = f"the log shrank: it offered size {offered.size} after {kept.size}"
        elif offered.size == kept.size:
            if hmac.compare_digest(offered.root, kept.root):
                self._take_over(links)
                return Result("unchanged", kept.size, offered.size, followed=_keys(links))
            reason = f"a second root for size {kept.size}: the log was rewritten (split view)"
        else:
            try:
                proof = server.consistency(kept.size, offered.size)
                merkle.verify_consistency(kept.size, offered.size, kept.root, offered.root, proof)
            except ProofError as exc:
                reason = f"no valid consistency proof from {kept.size} to {offered.size}: {exc}"
            else:
                self._take_over(links)
                _write(self.state / CHECKPOINT_FILE, offered_note)
                return Result("accepted", kept.size, offered.size, followed=_keys(links))
        evidence = self._keep_evidence(held_note, offered_note, reason, now or datetime.now(UTC))
        return Result("refused", kept.size, offered.size, reason, evidence)

    def _changed_key(
        self, server: LogServer, offered_note: str, why: NoteError
    ) -> tuple[list[KeyChange], Checkpoint]:
        """The key changes that lead from the pinned key to one that signed `offered_note`,
        each proven in its tree; WitnessError if there are none, or one does not hold."""
        pinned = self.pinned_key()
        assert pinned is not None
        records = server.key_changes()
        try:
            links = handover.follow(pinned, [record.note for record in records])
        except NoteError as exc:
            raise WitnessError(f"the server's key changes do not verify: {exc}") from None
        if not links:
            raise WitnessError(f"the server's checkpoint does not verify: {why}")
        successor = links[-1].new
        try:
            offered = successor.open(offered_note, origin=successor.name)
        except NoteError as exc:
            raise WitnessError(
                f"the server's checkpoint does not verify under the key its key changes lead "
                f"to: {exc}"
            ) from None
        by_note = {record.note: record for record in records}
        for link in links:
            self._check_recorded(server, by_note[link.note], offered)
        return links, offered

    @staticmethod
    def _check_recorded(server: LogServer, record: RecordedChange, offered: Checkpoint) -> None:
        """The key change is the event it claims to be, in the tree of `offered`."""
        try:
            event = json.loads(record.canonical)
            genuine = (
                event.get("seq") == record.seq
                and event.get("action") == handover.ACTION
                and (event.get("detail") or {}).get("note") == record.note
            )
        except (ValueError, AttributeError):
            genuine = False
        if not genuine or record.seq > offered.size:
            raise WitnessError(f"key change {record.seq} is not the log's record of it")
        try:
            merkle.verify_inclusion(
                record.seq - 1,
                offered.size,
                merkle.leaf_hash(record.canonical),
                server.inclusion(record.seq, offered.size),
                offered.root,
            )
        except ProofError as exc:
            raise WitnessError(f"key change {record.seq} is not in the log: {exc}") from None

    def _take_over(self, links: list[KeyChange]) -> None:
        """Pin the key the changes lead to, keeping the keys before it and the notes."""
        if not links:
            return
        folder = self.state / KEY_CHANGES_DIR
        folder.mkdir(exist_ok=True)
        for number, link in enumerate(links, start=len(self.previous_keys()) + 1):
            _write(folder / f"{number:04d}.note", link.note)
        previous = [*self.previous_keys(), *(link.old_key for link in links)]
        _write(self.state / PREVIOUS_KEYS_FILE, "".join(f"{key}\n" for key in previous))
        _write(self.state / KEY_FILE, links[-1].new_key + "\n")

    def _keep_evidence(self, held: str, offered: str, reason: str, now: datetime) -> Path:
        folder = self.state / EVIDENCE_DIR / now.strftime("%Y%m%dT%H%M%S.%fZ")
        folder.mkdir(parents=True, exist_ok=False)
        (folder / "held.note").write_text(held, encoding="utf-8")
        (folder / "offered.note").write_text(offered, encoding="utf-8")
        record = {"found_at": now.isoformat(), "reason": reason, "verifier_key": self.pinned_key()}
        (folder / "finding.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return folder


class HttpLogServer:
    """The log as the proofs API serves it."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, client: httpx.Client | None = None
    ) -> None:
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def _get(self, path: str, **params: int) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise WitnessError(f"cannot reach the server: {exc}") from None
        if response.status_code != 200:
            raise WitnessError(f"GET {path}: HTTP {response.status_code}: {response.text[:200]}")
        return response

    def verifier_key(self) -> str:
        return str(self._get("/api/v1/audit/verifier-key").text).strip()

    def checkpoint(self) -> str:
        return str(self._get("/api/v1/audit/checkpoint").text)

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self._get("/api/v1/audit/proof/consistency", **{"from": first, "to": second}).json()
        try:
            return [base64.b64decode(item, validate=True) for item in body["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"the server's proof is malformed: {exc}") from None

    def key_changes(self) -> list[RecordedChange]:
        body = self._get("/api/v1/audit/key-changes").json()
        try:
            return [
                RecordedChange(
                    int(item["seq"]),
                    str(item["note"]),
                    base64.b64decode(item["canonical"], validate=True),
                )
                for item in body["key_changes"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise WitnessError(f"the server's key changes are malformed: {exc}") from None

    def inclusion(self, seq: int, size: int) -> list[bytes]:
        body = self._get("/api/v1/audit/proof/inclusion", seq=seq, size=size).json()
        try:
            return [base64.b64decode(item, validate=True) for item in body["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"the server's proof is malformed: {exc}") from None

    def close(self) -> None:
        self._client.close()
