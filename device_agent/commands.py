"""Commands from the server (docs/device-protocol.md §8): verifying their signed envelopes,
keeping a journal so none runs twice, and signing receipts with the device key.

An envelope is trusted only if all of these hold: it is a JWS signed ES256 (no other
algorithm is looked at) by the command-signing certificate that the CA pinned at enrolment
issued (and, after a rotation, that handovers lead to: device_agent/signer_chain.py); its
`typ` is `tabard-command+jwt`; its `aud` and `device_id` are this device; and the device's
clock is inside [`nbf`, `exp`] give or take a minute. Anything else is refused and
never run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from device_agent import ca_chain, signer_chain
from device_agent.errors import AgentError
from device_agent.identity import DeviceIdentity, fingerprint
from device_agent.state import AgentState

ENVELOPE_TYPE = "tabard-command+jwt"
RECEIPT_TYPE = "tabard-receipt+jwt"
SIGNER_FILE = "command-signing.pem"
PREVIOUS_FILE = "command-signing-previous.json"  # the signer a handover replaced, and until
ENVELOPE_LIFETIME = timedelta(minutes=2)  # the longest a server's envelope lasts (§8.2)
JOURNAL_FILE = "commands.json"
SKEW = timedelta(seconds=60)
JOURNAL_LIMIT = 500
REQUIRED = ("iss", "aud", "device_id", "command_id", "seq", "type", "params", "iat", "nbf", "exp")


class EnvelopeRefusedError(AgentError):
    """An envelope the agent will not run; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Command:
    id: str
    seq: int
    type: str
    params: dict[str, Any]
    not_before: datetime
    expires_at: datetime
    envelope: str

    @property
    def envelope_sha256(self) -> str:
        return hashlib.sha256(self.envelope.encode("ascii")).hexdigest()


def envelope_kid(envelope: str) -> str | None:
    """The `kid` an envelope's header names (its signing certificate), unverified."""
    try:
        kid = jwt.get_unverified_header(envelope).get("kid")
    except jwt.DecodeError:
        return None
    return kid if isinstance(kid, str) else None


class Signers:
    """The command-signing certificate this device trusts: one the pinned CA issued, and
    after a rotation one that a chain of handovers leads to from it (device protocol §8.1).
    The certificate it replaced stays good for envelopes issued before the handover."""

    def __init__(self, state: AgentState) -> None:
        self.state = state
        self._certificate: x509.Certificate | None = None
        self.kid: str | None = None  # the SHA-256 fingerprint envelopes name their signer by
        self._previous: x509.Certificate | None = None
        self.previous_kid: str | None = None
        self._previous_until: datetime | None = None  # latest `exp` it may still sign
        if state.path(SIGNER_FILE).exists():
            self._hold(state.read(SIGNER_FILE).decode())
        if state.path(PREVIOUS_FILE).exists():
            kept = state.read_json(PREVIOUS_FILE)
            self._previous = x509.load_pem_x509_certificate(str(kept["certificate"]).encode())
            self.previous_kid = fingerprint(str(kept["certificate"]))
            self._previous_until = datetime.fromisoformat(str(kept["until"]))

    def _hold(self, certificate_pem: str) -> None:
        self._certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        self.kid = fingerprint(certificate_pem)

    def knows(self, kid: str | None) -> bool:
        """Whether envelopes naming `kid` can be checked without asking the server."""
        return kid is not None and kid in (self.kid, self.previous_kid)

    def trust(
        self, certificate_pem: str, *, now: datetime, handovers: list[str] | None = None
    ) -> None:
        """Keep `certificate_pem` as the signer if the pinned CA issued it for signing
        commands and it is current, and, when another signer is held, if `handovers` lead to
        it from that one (`None`: at enrolment, where nothing is held yet); else refuse."""
        ca = ca_chain.load(self.state)  # the pinned CA, and those its links led to
        held = self.state.read(SIGNER_FILE).decode() if self._certificate is not None else None
        if held is None or handovers is None:
            signer_chain.check_signer(certificate_pem, ca, now=now)
            links = []
            if handovers is None:  # enrolment starts trust afresh
                self.state.path(PREVIOUS_FILE).unlink(missing_ok=True)
                self._previous = self._previous_until = self.previous_kid = None
        else:
            if fingerprint(certificate_pem) == self.kid:
                return
            links = signer_chain.follow(held, handovers, certificate_pem, ca=ca, now=now)
        if held is not None and links:
            # Envelopes the old key signed before it was replaced expire within one envelope
            # lifetime of the handover: those may still arrive, and still run.
            until = links[0].handed_over_at + ENVELOPE_LIFETIME
            self.state.write_json(PREVIOUS_FILE, {"certificate": held, "until": until.isoformat()})
            self._previous = self._certificate
            self.previous_kid = self.kid
            self._previous_until = until
        self.state.write(SIGNER_FILE, certificate_pem.encode())
        self._hold(certificate_pem)

    def verify(self, envelope: str, *, device_id: str, now: datetime) -> Command:
        """The command an envelope carries, or EnvelopeRefusedError saying why not."""
        if self._certificate is None:
            raise EnvelopeRefusedError("no_signer", "no command-signing certificate is trusted")
        header = _header(envelope)
        if header.get("alg") != "ES256":
            raise EnvelopeRefusedError(
                "bad_algorithm", f"envelope must be signed ES256, not {header.get('alg')!r}"
            )
        if header.get("typ") != ENVELOPE_TYPE:
            raise EnvelopeRefusedError("bad_type", f"envelope `typ` must be {ENVELOPE_TYPE!r}")
        signer = self._certificate
        retired = header.get("kid") == self.previous_kid and self._previous is not None
        if retired and self._previous is not None:
            signer = self._previous
        key = signer.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        try:
            claims = jwt.decode(
                envelope,
                key,
                algorithms=["ES256"],
                audience=device_id,
                options={"require": list(REQUIRED), "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            raise EnvelopeRefusedError(
                "bad_signature", "envelope signature does not verify (forged or altered)"
            ) from None
        except jwt.InvalidAudienceError:
            raise EnvelopeRefusedError("other_device", "envelope is for another device") from None
        except jwt.PyJWTError as exc:
            raise EnvelopeRefusedError("malformed", f"envelope rejected: {exc}") from None
        command = _command(claims, envelope=envelope, device_id=device_id, now=now)
        if (
            retired
            and self._previous_until is not None
            and command.expires_at > (self._previous_until)
        ):
            raise EnvelopeRefusedError(
                "retired_signer", "envelope signed by a command-signing key since replaced"
            )
        return command


def _header(envelope: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(envelope)
    except jwt.DecodeError:
        raise EnvelopeRefusedError("malformed", "envelope is not a JWS") from None


def _command(claims: dict[str, Any], *, envelope: str, device_id: str, now: datetime) -> Command:
    if claims["device_id"] != device_id:
        raise EnvelopeRefusedError("other_device", "envelope is for another device")
    times = [claims["iat"], claims["nbf"], claims["exp"]]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        raise EnvelopeRefusedError("malformed", "envelope times must be integers")
    not_before = datetime.fromtimestamp(claims["nbf"], UTC)
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if now > expires + SKEW:
        raise EnvelopeRefusedError("expired", f"envelope expired at {expires.isoformat()}")
    if now < not_before - SKEW:
        raise EnvelopeRefusedError("not_yet_valid", f"envelope not valid before {not_before}")
    if not isinstance(claims["params"], dict) or not isinstance(claims["type"], str):
        raise EnvelopeRefusedError("malformed", "envelope `type` or `params` malformed")
    return Command(
        id=str(claims["command_id"]),
        seq=int(claims["seq"]),
        type=claims["type"],
        params=claims["params"],
        not_before=not_before,
        expires_at=expires,
        envelope=envelope,
    )


def sign_receipt(
    identity: DeviceIdentity,
    command: Command,
    *,
    result: str,
    evidence: dict[str, Any],
    error: str | None,
    executed_at: datetime,
) -> str:
    """A receipt for `command`, signed with the device key."""
    claims = {
        "iss": identity.device_id,
        "command_id": command.id,
        "envelope_sha256": command.envelope_sha256,
        "result": result,
        "executed_at": int(executed_at.timestamp()),
        "evidence": evidence,
        "error": error,
        "iat": int(executed_at.timestamp()),
    }
    return jwt.encode(claims, identity.key, algorithm="ES256", headers={"typ": RECEIPT_TYPE})


class Journal:
    """Commands already run, with their receipts and whether the server has them, so a
    command delivered twice runs once, and a receipt that did not get through is sent again."""

    def __init__(self, state: AgentState) -> None:
        self.state = state
        path = state.path(JOURNAL_FILE)
        self.entries: dict[str, dict[str, Any]] = (
            state.read_json(JOURNAL_FILE).get("commands", {}) if path.exists() else {}
        )

    def receipt(self, command_id: str) -> str | None:
        entry = self.entries.get(command_id)
        return str(entry["receipt"]) if entry is not None else None

    def keep(self, command: Command, receipt: str, result: str) -> None:
        self.entries[command.id] = {
            "type": command.type,
            "seq": command.seq,
            "result": result,
            "receipt": receipt,
            "sent": False,
        }
        self._save()

    def sent(self, command_id: str) -> None:
        if command_id in self.entries:
            self.entries[command_id]["sent"] = True
            self._save()

    def unsent(self) -> list[tuple[str, str]]:
        return [(cid, str(e["receipt"])) for cid, e in self.entries.items() if not e["sent"]]

    def _save(self) -> None:
        # Oldest first; beyond the limit, forget the oldest whose receipts got through.
        while len(self.entries) > JOURNAL_LIMIT:
            oldest = next((cid for cid, e in self.entries.items() if e["sent"]), None)
            if oldest is None:
                break
            del self.entries[oldest]
        self.state.write_json(JOURNAL_FILE, {"commands": self.entries})
