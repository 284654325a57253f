"""DESIGN.md flow 2: each way a device assertion can be wrong is refused with 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.deps import ContextDep, DeviceCaller
from mdm_server.devices.models import DeviceAssertion
from mdm_server.errors import ConflictError
from tests.conftest import FakeClock
from tests.factories.commands import retire
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.support import count, error_of

CHECKIN = "/api/v1/device/checkin"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _post(client: TestClient, device: SimulatedDevice, token: str):  # type: ignore[no-untyped-def]
    return client.post(
        CHECKIN, json={"posture": device.posture()}, headers={"Authorization": f"Bearer {token}"}
    )


class TestDeviceAssertion:
    def test_a_valid_assertion_is_accepted(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        assert enrolled.checkin(client, now=clock()).status_code == 200

    def test_an_expired_assertion_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        stale = enrolled.assertion("POST", CHECKIN, now=clock())
        clock.advance(minutes=2)
        response = _post(client, enrolled, stale)
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_an_assertion_from_the_future_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        ahead = clock.now + timedelta(minutes=10)
        response = enrolled.checkin(client, now=ahead)
        assert response.status_code == 401
        assert "future" in response.json()["detail"]

    def test_a_lifetime_over_sixty_seconds_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        iat = int(clock().timestamp())
        response = enrolled.checkin(client, now=clock(), iat=iat, exp=iat + 61)
        assert response.status_code == 401
        assert "60" in response.json()["detail"]

    def test_a_wrong_audience_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        response = enrolled.checkin(client, now=clock(), aud="https://elsewhere.example")
        assert response.status_code == 401
        assert "aud" in response.json()["detail"]

    def test_an_issuer_other_than_the_device_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        response = enrolled.checkin(client, now=clock(), iss="someone-else")
        assert response.status_code == 401
        assert "iss" in response.json()["detail"]

    def test_claiming_to_be_another_device_is_refused(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        victim = SimulatedDevice()
        victim.enrol(client, create_token(client, admin_headers)["token"])
        response = enrolled.checkin(client, now=clock(), iss=victim.device_id, sub=victim.device_id)
        assert response.status_code == 401
        assert "signature" in response.json()["detail"]

    def test_a_replayed_assertion_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        once = enrolled.assertion("POST", CHECKIN, now=clock())
        assert _post(client, enrolled, once).status_code == 200
        replay = _post(client, enrolled, once)
        assert replay.status_code == 401
        assert "replayed" in replay.json()["detail"]

    def test_a_jti_spent_on_a_failed_request_cannot_be_replayed(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        token = enrolled.assertion("POST", CHECKIN, now=clock())
        bad_body = client.post(
            CHECKIN, json={"posture": {"sdk": "x"}}, headers={"Authorization": f"Bearer {token}"}
        )
        assert bad_body.status_code == 422
        assert _post(client, enrolled, token).status_code == 401

    def test_alg_none_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        claims = enrolled.claims("POST", CHECKIN, now=clock())
        unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        response = _post(client, enrolled, unsigned)
        assert response.status_code == 401
        assert "ES256" in response.json()["detail"]

    def test_hs256_signed_with_the_public_key_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        public_pem = enrolled.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        claims = enrolled.claims("POST", CHECKIN, now=clock())
        header = _b64({"alg": "HS256", "typ": "JWT"})
        signing_input = f"{header}.{_b64(claims)}".encode()
        signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        forged = (
            signing_input.decode() + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
        )
        assert _post(client, enrolled, forged).status_code == 401

    def test_a_signature_by_another_key_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        stranger = ec.generate_private_key(ec.SECP256R1())
        response = enrolled.checkin(client, now=clock(), key=stranger)
        assert response.status_code == 401
        assert "signature" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("claim", "value"),
        [
            ("htm", "GET"),
            ("htu", "/api/v1/device/enrol"),
            ("htu", "http://testserver/api/v1/other"),
        ],
    )
    def test_a_wrong_method_or_path_is_refused(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        claim: str,
        value: str,
    ) -> None:
        response = enrolled.checkin(client, now=clock(), **{claim: value})
        assert response.status_code == 401
        assert claim in response.json()["detail"]

    @pytest.mark.parametrize("claim", ["jti", "htm", "htu", "exp", "iat", "aud"])
    def test_a_missing_claim_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, claim: str
    ) -> None:
        assert enrolled.checkin(client, now=clock(), drop=(claim,)).status_code == 401

    @pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not.a.jwt"])
    def test_missing_or_malformed_credentials_are_refused(
        self, client: TestClient, enrolled: SimulatedDevice, header: str | None
    ) -> None:
        headers = {"Authorization": header} if header else {}
        response = client.post(CHECKIN, json={"posture": {}}, headers=headers)
        assert response.status_code == 401
        assert error_of(response) == "invalid_device_assertion"

    def test_an_unknown_device_is_refused(self, client: TestClient, clock: FakeClock) -> None:
        ghost = SimulatedDevice()
        ghost.device_id, ghost.audience = (
            "00000000-0000-4000-8000-000000000000",
            "http://testserver",
        )
        assert ghost.checkin(client, now=clock()).status_code == 401

    def test_a_retired_device_is_refused(
        self,
        app: FastAPI,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        retire(client, app, str(enrolled.device_id), headers=admin_headers, reason="lost on patrol")
        response = enrolled.checkin(client, now=clock())
        assert (response.status_code, error_of(response)) == (401, "certificate_revoked")

    def test_an_expired_certificate_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        clock.advance(days=366)
        response = enrolled.checkin(client, now=clock())
        assert (response.status_code, error_of(response)) == (401, "certificate_expired")

    def test_used_assertion_ids_are_forgotten_once_expired(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        from mdm_server.scheduler import job_named, run_job

        enrolled.checkin(client, now=clock())
        database = app.state.context.database
        assert count(database, DeviceAssertion) == 1
        clock.advance(minutes=5)
        context = app.state.context
        assert run_job(context, job_named(context, "cleanup")) == {
            "assertion_ids_purged": 1,
            "refresh_tokens_purged": 0,
            "console_sessions_purged": 0,
            "passkey_challenges_purged": 0,
            "sign_in_clients_purged": 0,
            "id_tokens_purged": 0,
            "orphan_apks_removed": 0,
        }
        assert count(database, DeviceAssertion) == 0


def test_pyjwt_refuses_hmac_with_an_ec_public_key() -> None:
    """The library itself must refuse the classic key-confusion forgery we rely on it for."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(jwt.exceptions.InvalidKeyError):
        jwt.encode({"a": 1}, pem, algorithm="HS256")


class TestDeviceRoutesFailClosed:
    def test_an_unauthenticated_request_with_a_bad_body_learns_only_401(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        stranger = ec.generate_private_key(ec.SECP256R1())
        token = enrolled.assertion("POST", CHECKIN, now=clock(), key=stranger)
        response = client.post(
            CHECKIN, json={"posture": {"sdk": "x"}}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401

    def test_a_failure_inside_the_route_still_spends_the_jti(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        def failing(caller: DeviceCaller, context: ContextDep) -> None:
            with caller.transaction(context):
                raise ConflictError("this route always fails after authenticating")

        app.add_api_route("/api/v1/device/failing", failing, methods=["POST"])
        token = enrolled.assertion("POST", "/api/v1/device/failing", now=clock())
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/device/failing", headers=headers).status_code == 409
        replay = client.post("/api/v1/device/failing", headers=headers)
        assert replay.status_code == 401
        assert "replayed" in replay.json()["detail"]

    def test_a_route_that_never_authenticates_fails_closed(
        self, app: FastAPI, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        def careless(caller: DeviceCaller) -> dict[str, str]:
            return {"secret": "should never be served"}

        app.add_api_route("/api/v1/device/careless", careless, methods=["GET"])
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get(
                "/api/v1/device/careless",
                headers=enrolled.auth("GET", "/api/v1/device/careless", now=clock()),
            )
        assert response.status_code == 500
        assert "should never be served" not in response.text
