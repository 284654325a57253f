from __future__ import annotations

import io
import json
import uuid
from typing import Any
from xml.etree import ElementTree

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from mdm_server.audit.models import AuditEvent
from mdm_server.devices.models import Device, DeviceCertificate
from mdm_server.enrolment.models import EnrolmentToken
from mdm_server.enrolment.qr import qr_png, qr_svg
from mdm_server.enrolment.schemas import EnrolmentPayload
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice, csr_for
from tests.factories.enrolment import create_token
from tests.factories.staff import create_staff
from tests.support import audit_events, error_of, read_qr, row_counts

WRITTEN = (Device, DeviceCertificate, AuditEvent)


def _snapshot(app: FastAPI) -> dict[str, Any]:
    database = app.state.context.database
    counts = row_counts(database, *WRITTEN)
    with database.unit_of_work(write=False) as session:
        uses = sorted(token.uses_count for token in session.exec(select(EnrolmentToken)))
    return {**counts, "uses": uses}


class TestEnrolmentTokens:
    def test_secret_is_shown_once_and_stored_only_as_a_digest(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        created = create_token(client, admin_headers, label="batch 7")
        assert len(created["token"]) >= 22  # >= 128 bits of base64url
        payload = created["payload"]
        assert set(payload) == {"server", "token", "ca_sha256"}
        assert payload["server"] == "http://testserver"
        assert payload["ca_sha256"] == client.get("/api/v1/ca").json()["sha256"]
        shown = client.get(f"/api/v1/enrolment-tokens/{created['id']}", headers=admin_headers)
        assert "token" not in shown.json()
        with app.state.context.database.unit_of_work(write=False) as session:
            stored = session.get(EnrolmentToken, uuid.UUID(created["id"]))
        assert stored is not None and created["token"] not in stored.secret_digest
        (event,) = audit_events(app.state.context.database, "enrolment_token.created")
        assert created["token"] not in event.canonical

    def test_the_qr_code_reads_back_as_the_exact_payload(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        payload = EnrolmentPayload(**create_token(client, admin_headers)["payload"])
        decoded = read_qr(io.BytesIO(qr_png(payload)))
        assert json.loads(decoded) == payload.model_dump()
        svg = ElementTree.fromstring(qr_svg(payload))
        assert svg.tag.endswith("svg") and any(el.tag.endswith("path") for el in svg.iter())

    def test_list_shows_only_usable_tokens_unless_asked(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        keep = create_token(client, admin_headers)
        gone = create_token(client, admin_headers)
        client.post(f"/api/v1/enrolment-tokens/{gone['id']}/revoke", headers=admin_headers)
        usable = client.get("/api/v1/enrolment-tokens", headers=admin_headers).json()["items"]
        every = client.get(
            "/api/v1/enrolment-tokens", params={"include_inactive": True}, headers=admin_headers
        ).json()["items"]
        assert [t["id"] for t in usable] == [keep["id"]]
        assert {t["id"]: t["status"] for t in every} == {
            keep["id"]: "active",
            gone["id"]: "revoked",
        }

    def test_an_officer_token_names_a_real_officer(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        create_staff(app, role="officer", collar="4521")
        assert create_token(client, admin_headers, officer="4521")["officer"] == "4521"
        unknown = client.post(
            "/api/v1/enrolment-tokens",
            headers=admin_headers,
            json={"group": "response", "officer": "9999"},
        )
        assert (unknown.status_code, error_of(unknown)) == (400, "officer_not_found")

    @pytest.mark.parametrize(
        "body",
        [
            {"group": "Bad Group"},
            {"group": "g", "uses": 0},
            {"group": "g", "expires_in_s": 5},
            {"group": "g", "expires_in_s": 10**9},
            {"group": "g", "colour": "blue"},
        ],
    )
    def test_refuses_bad_token_requests(
        self, client: TestClient, admin_headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        response = client.post("/api/v1/enrolment-tokens", headers=admin_headers, json=body)
        assert 400 <= response.status_code < 500


class TestEnrol:
    def test_enrols_a_device_with_its_certificate_in_one_transaction(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        create_staff(app, role="officer", collar="4521")
        token = create_token(client, admin_headers, group="traffic", officer="4521")
        device = SimulatedDevice()
        response = device.enrol(client, token["token"])
        assert response.status_code == 201
        answer = response.json()
        assert set(answer) == {
            "device_id",
            "certificate",
            "ca_certificate",
            "audience",
            "checkin_interval_s",
        }
        assert answer["audience"] == "http://testserver"
        cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
        cert.verify_directly_issued_by(
            x509.load_pem_x509_certificate(answer["ca_certificate"].encode())
        )
        shown = client.get(f"/api/v1/devices/{answer['device_id']}", headers=admin_headers).json()
        assert shown["group"] == "traffic"
        assert shown["officer"]["collar_number"] == "4521"
        (event,) = audit_events(app.state.context.database, "device.enrolled")
        assert event.target_id == answer["device_id"] and event.actor_type == "device"

    def test_a_token_cannot_be_used_beyond_its_uses(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        token = create_token(client, admin_headers, uses=1)["token"]
        assert SimulatedDevice().enrol(client, token).status_code == 201
        before = _snapshot(app)
        response = SimulatedDevice().enrol(client, token)
        assert (response.status_code, error_of(response)) == (403, "enrolment_token_exhausted")
        assert _snapshot(app) == before

    def test_refuses_expired_revoked_and_unknown_tokens_writing_nothing(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        revoked = create_token(client, admin_headers)
        client.post(f"/api/v1/enrolment-tokens/{revoked['id']}/revoke", headers=admin_headers)
        expiring = create_token(client, admin_headers, expires_in_s=60)
        clock.advance(seconds=61)
        before = _snapshot(app)
        cases = {
            revoked["token"]: (403, "enrolment_token_revoked"),
            expiring["token"]: (403, "enrolment_token_expired"),
            "not-a-real-token": (401, "invalid_enrolment_token"),
        }
        for token, expected in cases.items():
            response = SimulatedDevice().enrol(client, token)
            assert (response.status_code, error_of(response)) == expected
        assert _snapshot(app) == before

    @pytest.mark.parametrize(
        "key",
        [
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ec.generate_private_key(ec.SECP384R1()),
        ],
        ids=["rsa", "p384"],
    )
    def test_refuses_keys_other_than_p256_writing_nothing(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], key: Any
    ) -> None:
        token = create_token(client, admin_headers)["token"]
        before = _snapshot(app)
        device = SimulatedDevice()
        response = client.post(
            "/api/v1/device/enrol", json=device.enrolment_body(token, csr=csr_for(key))
        )
        assert (response.status_code, error_of(response)) == (400, "invalid_csr")
        assert _snapshot(app) == before

    def test_refuses_a_serial_already_enrolled(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        token = create_token(client, admin_headers)["token"]
        assert SimulatedDevice(serial="R58J530F001").enrol(client, token).status_code == 201
        before = _snapshot(app)
        again = SimulatedDevice(serial="R58J530F001").enrol(client, token)
        assert (again.status_code, error_of(again)) == (409, "serial_already_enrolled")
        assert _snapshot(app) == before

    def test_a_reenrolment_token_retires_the_old_record(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        first = SimulatedDevice(serial="R58J530F002")
        assert first.enrol(client, create_token(client, admin_headers)["token"]).status_code == 201
        token = create_token(client, admin_headers, allow_reenrolment=True)["token"]
        second = SimulatedDevice(serial="R58J530F002")
        assert second.enrol(client, token).status_code == 201
        old = client.get(f"/api/v1/devices/{first.device_id}", headers=admin_headers).json()
        assert old["state"] == "retired"
        assert all(cert["revoked_at"] for cert in old["certificates"])
        by_serial = client.get("/api/v1/devices/R58J530F002", headers=admin_headers).json()
        assert by_serial["id"] == second.device_id

    @pytest.mark.parametrize(
        "facts",
        [
            {"imei": "352902084391509"},
            {"imei": "12345"},
            {"sdk": "twenty"},
            {"warranty_bit": 2},
            {"serial": "no spaces allowed"},
            {"security_patch": "soon"},
        ],
    )
    def test_refuses_bad_facts_writing_nothing(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], facts: dict[str, Any]
    ) -> None:
        token = create_token(client, admin_headers)["token"]
        before = _snapshot(app)
        response = SimulatedDevice(**facts).enrol(client, token)
        assert response.status_code == 422
        assert error_of(response) == "invalid_request"
        assert response.json()["detail"][0]["field"].startswith("facts.")
        assert _snapshot(app) == before

    def test_a_wifi_tablet_enrols_without_an_imei(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        token = create_token(client, admin_headers)["token"]
        tablet = SimulatedDevice(model="SM-T580", imei=None, android_version="8.1.0", sdk=27)
        assert tablet.enrol(client, token).status_code == 201
