"""A device for tests: its own P-256 key, facts, and the assertions it signs, built straight
from the device protocol (not from the agent's code) so the server is checked against the
contract rather than against our own client."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from httpx import Response

from virtual_device.android import luhn_check_digit


def luhn_complete(body: str) -> str:
    """`body` plus its Luhn check digit."""
    return body + luhn_check_digit(body)


def csr_for(key: Any, *, algorithm: hashes.HashAlgorithm | None = None) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-device")])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject)
    signed = request.sign(key, algorithm if algorithm is not None else hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.PEM).decode()


class SimulatedDevice:
    """One handset as the server sees it over the device protocol."""

    def __init__(self, *, serial: str | None = None, model: str = "SM-J530F", **facts: Any):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.facts: dict[str, Any] = {
            "serial": serial or secrets.token_hex(8),
            "imei": luhn_complete("35290208" + str(secrets.randbelow(10**6)).zfill(6)),
            "manufacturer": "samsung",
            "model": model,
            "android_version": "7.0",
            "sdk": 24,
            "security_patch": "2017-06-01",
            "knox_version": "2.8",
            "warranty_bit": 0,
            **facts,
        }
        self.device_id: str | None = None
        self.audience: str | None = None
        self.certificate: str | None = None

    @property
    def serial(self) -> str:
        return str(self.facts["serial"])

    def enrolment_body(self, token: str, **overrides: Any) -> dict[str, Any]:
        return {"token": token, "csr": csr_for(self.key), "facts": self.facts, **overrides}

    def enrol(self, client: TestClient, token: str) -> Response:
        response = client.post("/api/v1/device/enrol", json=self.enrolment_body(token))
        if response.status_code == 201:
            answer = response.json()
            self.device_id = answer["device_id"]
            self.audience = answer["audience"]
            self.certificate = answer["certificate"]
        return response

    def claims(self, method: str, path: str, *, now: datetime) -> dict[str, Any]:
        assert self.device_id is not None, "enrol the device first"
        issued = int(now.timestamp())
        return {
            "iss": self.device_id,
            "sub": self.device_id,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + 30,
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": path,
        }

    def assertion(
        self,
        method: str,
        path: str,
        *,
        now: datetime,
        key: Any = None,
        algorithm: str = "ES256",
        drop: tuple[str, ...] = (),
        **overrides: Any,
    ) -> str:
        claims = {**self.claims(method, path, now=now), **overrides}
        for name in drop:
            claims.pop(name, None)
        return jwt.encode(claims, key if key is not None else self.key, algorithm=algorithm)

    def sign_event(
        self,
        event: dict[str, Any],
        *,
        key: Any = None,
        algorithm: str = "ES256",
        typ: str = "tabard-device-event+jwt",
        **overrides: Any,
    ) -> str:
        """An outbox event signed as docs/device-protocol.md §7 says: a JWS over the event and
        `iss` (the device id)."""
        claims = {**event, "iss": self.device_id, **overrides}
        return jwt.encode(
            claims, key if key is not None else self.key, algorithm=algorithm, headers={"typ": typ}
        )

    def auth(self, method: str, path: str, *, now: datetime, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.assertion(method, path, now=now, **overrides)}"}

    def checkin(
        self,
        client: TestClient,
        *,
        now: datetime,
        posture: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Response:
        path = "/api/v1/device/checkin"
        return client.post(
            path,
            json={"posture": posture if posture is not None else self.posture()},
            headers=self.auth("POST", path, now=now, **overrides),
        )

    def policy(self, client: TestClient, *, now: datetime) -> Response:
        path = "/api/v1/device/policy"
        return client.get(path, headers=self.auth("GET", path, now=now))

    def posture(self, **changes: Any) -> dict[str, Any]:
        return {
            "model": self.facts["model"],
            "android_version": self.facts["android_version"],
            "sdk": self.facts["sdk"],
            "security_patch": self.facts["security_patch"],
            "warranty_bit": 0,
            "encrypted": True,
            "screen_lock": {"secure": True, "type": "pin"},
            "usb_debugging": False,
            "apps": {"personal": ["com.whatsapp"], "work": ["uk.police.optik"]},
            **changes,
        }
