"""Enrolment (DESIGN.md flow 1), device side: pin the CA, generate the key, send the CSR and
facts, check what comes back, and keep it in the state directory."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from device_agent import ca_chain
from device_agent.client import ServerClient
from device_agent.commands import Signers
from device_agent.errors import AgentError, PinMismatchError
from device_agent.identity import (
    DeviceIdentity,
    certificate_request,
    check_issued_certificate,
    fingerprint,
    generate_key,
)
from device_agent.payload import EnrolmentPayload
from device_agent.platform.base import Platform
from device_agent.state import PLATFORM_FILE, AgentState, EnrolmentRecord


async def enrol(
    payload: EnrolmentPayload,
    *,
    state: AgentState,
    platform: Platform,
    transport: httpx.AsyncBaseTransport | None = None,
) -> EnrolmentRecord:
    """Enrol this device with the server named in `payload`.

    The CA fingerprint from the QR code is checked before the token is sent (if the server
    has rotated its CA since the QR code was made, the links from the pinned CA must lead to
    the one it publishes) and again against the CA the enrolment answer names, and the
    issued certificate must chain to it. Without a pinned fingerprint (enrolment by
    `--server/--token`) the CA is trusted on first use."""
    if state.is_enrolled:
        existing = state.enrolment()
        raise AgentError(
            f"{state.directory} already holds device {existing.device_id}; use a new --state"
        )
    async with ServerClient(payload.server, transport=transport) as client:
        published = await client.fetch_ca()
        ca_pem = str(published["certificate"])
        pinned = payload.ca_sha256 or fingerprint(ca_pem)
        # A QR code made before the device CA was rotated pins the old CA: follow its links.
        cas = ca_chain.from_pinned(pinned, published)
        key = generate_key()
        answer = await client.enrol(
            token=payload.token,
            csr_pem=certificate_request(key),
            facts=platform.facts().as_protocol(),
        )
    device_id = str(answer["device_id"])
    issued_ca = str(answer["ca_certificate"])
    if fingerprint(issued_ca) != cas.current.sha256:
        raise PinMismatchError("the enrolment answer names a CA other than the pinned one")
    certificate = str(answer["certificate"])
    check_issued_certificate(
        certificate_pem=certificate, ca_pem=issued_ca, key=key, device_id=device_id
    )
    record = EnrolmentRecord(
        device_id=device_id,
        server=payload.server,
        audience=str(answer["audience"]),
        ca_sha256=pinned,
        checkin_interval_s=int(answer["checkin_interval_s"]),
        enrolled_at=datetime.now(UTC).isoformat(),
        platform=platform.spec,
    )
    identity = DeviceIdentity(
        device_id=device_id, key=key, certificate_pem=certificate, audience=record.audience
    )
    state.write_json(PLATFORM_FILE, platform.save())
    state.save_enrolment(record, identity, issued_ca)
    if len(cas.cas) > 1:
        ca_chain.save(state, cas)
    signer = published.get("command_certificate")
    if isinstance(signer, str):
        Signers(state).trust(signer, now=datetime.now(UTC))
    return record
