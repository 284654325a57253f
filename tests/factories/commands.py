"""Commands for tests: sent and approved through the API, as IT would."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tests.factories.staff import headers_for


def retire(
    client: TestClient, app: FastAPI, reference: str, *, headers: dict[str, str], reason: str
) -> dict[str, Any]:
    """Request retirement as one it_admin and approve it as a second; the approved command."""
    asked = client.post(
        f"/api/v1/devices/{reference}/retire", json={"reason": reason}, headers=headers
    )
    assert asked.status_code == 202, asked.text
    (command,) = asked.json()["commands"]
    assert command["state"] == "pending_approval"
    approved = client.post(
        f"/api/v1/commands/{command['id']}/approve", headers=headers_for(app, "it_admin")
    )
    assert approved.status_code == 200, approved.text
    body: dict[str, Any] = approved.json()
    return body


def send(
    client: TestClient,
    headers: dict[str, str],
    device: str,
    command_type: str,
    *,
    reason: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Send one command to one device; the command as the API describes it."""
    body: dict[str, Any] = {"type": command_type, "target": {"device": device}, "params": params}
    if reason is not None:
        body["reason"] = reason
    response = client.post("/api/v1/commands", json=body, headers=headers)
    assert response.status_code == 201, response.text
    (command,) = response.json()["commands"]
    return dict(command)


def poll(client: TestClient, device: Any, *, now: datetime, wait: int = 0) -> Response:
    path = "/api/v1/device/commands"
    return client.get(path, params={"wait": wait}, headers=device.auth("GET", path, now=now))


def signer_key(client: TestClient) -> ec.EllipticCurvePublicKey:
    """The command-signing key, trusted only because the published CA issued its certificate
    (as a device checks it)."""
    published = client.get("/api/v1/ca").json()
    ca = x509.load_pem_x509_certificate(published["certificate"].encode())
    signer = x509.load_pem_x509_certificate(published["command_certificate"].encode())
    signer.verify_directly_issued_by(ca)
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def open_envelope(
    client: TestClient, envelope: str, *, device_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """An envelope's claims, verified as docs/device-protocol.md says a device must: at `now`
    (a test's clock) if given, else at the real time."""
    header = jwt.get_unverified_header(envelope)
    assert (header["alg"], header["typ"]) == ("ES256", "tabard-command+jwt")
    timed = now is None
    claims: dict[str, Any] = jwt.decode(
        envelope,
        signer_key(client),
        algorithms=["ES256"],
        audience=device_id,
        options={"verify_exp": timed, "verify_nbf": timed, "verify_iat": timed},
    )
    if now is not None:
        assert claims["nbf"] <= now.timestamp() < claims["exp"]
    assert claims["device_id"] == device_id
    return claims


def sign_receipt(
    device: Any,
    envelope: str,
    *,
    command_id: str,
    now: datetime,
    result: str = "succeeded",
    evidence: dict[str, Any] | None = None,
    error: str | None = None,
    key: Any = None,
    **overrides: Any,
) -> str:
    """A receipt as the protocol defines it, signed with the device key (or `key`)."""
    claims = {
        "iss": device.device_id,
        "command_id": command_id,
        "envelope_sha256": hashlib.sha256(envelope.encode()).hexdigest(),
        "result": result,
        "executed_at": int(now.timestamp()),
        "evidence": evidence if evidence is not None else {"done": True},
        "error": error,
        "iat": int(now.timestamp()),
        **overrides,
    }
    return jwt.encode(
        claims,
        key if key is not None else device.key,
        algorithm="ES256",
        headers={"typ": "tabard-receipt+jwt"},
    )


def submit_receipt(
    client: TestClient, device: Any, command_id: str, receipt: str, *, now: datetime
) -> Response:
    path = f"/api/v1/device/commands/{command_id}/receipt"
    return client.post(path, json={"receipt": receipt}, headers=device.auth("POST", path, now=now))


def command_of(client: TestClient, headers: dict[str, str], command_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/commands/{command_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def delivered(client: TestClient, device: Any, clock: Callable[[], datetime]) -> list[str]:
    response = poll(client, device, now=clock())
    assert response.status_code == 200, response.text
    return list(response.json()["commands"])
