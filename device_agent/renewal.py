"""Taking the renewed certificate a check-in answer offers (docs/device-protocol.md §4).

The server certifies the device's key again before its certificate expires, and under the new
device CA after that CA is rotated. The device keeps the new certificate only if a CA it trusts
vouches for it, following the server's published CA links first when the certificate comes
from a CA it does not know yet; anything else is refused and the certificate held is kept."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from device_agent import ca_chain
from device_agent.client import ServerClient
from device_agent.errors import AgentError
from device_agent.identity import DeviceIdentity
from device_agent.state import CERT_FILE, AgentState

log = logging.getLogger("tabard.agent")


async def take_certificate(
    state: AgentState,
    identity: DeviceIdentity,
    answer: dict[str, Any],
    client: ServerClient,
    *,
    now: datetime,
) -> DeviceIdentity:
    """The identity with the certificate the answer offers, kept, if it is trustworthy and
    differs from the one held; else the identity as it was."""
    offered = answer.get("certificate")
    if not isinstance(offered, str) or offered == identity.certificate_pem:
        return identity
    try:
        try:
            _check(offered, ca_chain.load(state), identity, now)
        except ca_chain.CAChainError:
            # Perhaps from a device CA this device has not followed yet: look for its link.
            _check(
                offered, ca_chain.follow_published(state, await client.fetch_ca()), identity, now
            )
    except AgentError as exc:
        log.warning("kept the certificate held, refusing the one offered: %s", exc)
        return identity
    state.write(CERT_FILE, offered.encode())
    log.info("took the renewed device certificate")
    return replace(identity, certificate_pem=offered)


def _check(offered: str, cas: ca_chain.TrustedCAs, identity: DeviceIdentity, now: datetime) -> None:
    ca_chain.check_own_certificate(
        offered, cas, key=identity.key, device_id=identity.device_id, now=now
    )
