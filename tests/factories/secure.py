"""The secure side from the device's seat, built from docs/device-protocol.md §6 rather than
from the agent's code: opening the container-key envelope, entering, transacting, leaving."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from mdm_server.auth.models import StaffUser
from mdm_server.context import AppContext
from mdm_server.devices.models import Device
from mdm_server.secure import keys as container_keys
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import create_staff

PIN = "402917"
NEW_PIN = "583062"
SESSIONS = "/api/v1/device/secure-sessions"
TRANSACTIONS = "/api/v1/device/transactions"


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def open_envelope(
    envelope: dict[str, Any], *, key: ec.EllipticCurvePrivateKey, device_id: str
) -> bytes:
    """ECDH(device key, epk) -> HKDF-SHA256(salt=epk, info=binding) -> AES-256-GCM(aad=binding),
    where binding is `tabard container key v1|DEVICE_ID|KEY_ID`."""
    assert envelope["alg"] == "ECDH-ES+HKDF-SHA256+A256GCM"
    epk = unb64(envelope["epk"])
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk)
    shared = key.exchange(ec.ECDH(), peer)
    binding = f"tabard container key v1|{device_id}|{envelope['key_id']}".encode()
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk, info=binding).derive(shared)
    return AESGCM(kek).decrypt(unb64(envelope["nonce"]), unb64(envelope["ciphertext"]), binding)


def officer_with_pin(
    app: FastAPI, client: TestClient, admin: dict[str, str], *, pin: str = PIN, **staff: Any
) -> StaffUser:
    """An officer whose PIN IT has just set (so it must be changed at first entry)."""
    officer = create_staff(app, role="officer", **staff)
    response = client.put(
        f"/api/v1/officers/{officer.collar_number}/pin", json={"pin": pin}, headers=admin
    )
    assert response.status_code == 200, response.text
    return officer


def assign(
    client: TestClient, admin: dict[str, str], device: SimulatedDevice, officer: StaffUser
) -> None:
    response = client.patch(
        f"/api/v1/devices/{device.device_id}/assignment",
        json={"officer": officer.collar_number},
        headers=admin,
    )
    assert response.status_code == 200, response.text


def enter(
    client: TestClient,
    device: SimulatedDevice,
    collar: str | None,
    *,
    now: datetime,
    pin: str = PIN,
    **extra: Any,
) -> Response:
    body = {"collar_number": collar, "pin": pin, **extra}
    return client.post(SESSIONS, json=body, headers=device.auth("POST", SESSIONS, now=now))


def transact(
    client: TestClient,
    device: SimulatedDevice,
    token: str | None,
    body: dict[str, Any],
    *,
    now: datetime,
) -> Response:
    headers = device.auth("POST", TRANSACTIONS, now=now)
    if token is not None:
        headers["X-Tabard-Session"] = token
    return client.post(TRANSACTIONS, json=body, headers=headers)


def leave(
    client: TestClient, device: SimulatedDevice, session_id: str, *, now: datetime
) -> Response:
    path = f"{SESSIONS}/{session_id}/end"
    return client.post(path, json={"reason": "leave"}, headers=device.auth("POST", path, now=now))


def device_with_container_key(context: AppContext) -> tuple[uuid.UUID, bytes]:
    """A device row holding a container key the server has just made and wrapped; its id and
    the key."""
    with context.database.unit_of_work() as session:
        device = Device(
            serial=f"R58M{uuid.uuid4().hex[:8]}",
            manufacturer="samsung",
            model="SM-J510FN",
            android_version="7.1.1",
            sdk=25,
            group_name="response",
            enrolled_at=context.clock(),
        )
        session.add(device)
        session.flush()
        _, key = container_keys.live_or_new_key(
            session, device_id=device.id, master=context.master_key, now=context.clock()
        )
        return device.id, key


def container_key_of(context: AppContext, device_id: uuid.UUID) -> bytes:
    """The device's live container key, as the server unwraps it for an entry."""
    with context.database.unit_of_work() as session:
        _, key = container_keys.live_or_new_key(
            session, device_id=device_id, master=context.master_key, now=context.clock()
        )
        return key
