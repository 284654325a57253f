from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from device_agent.checkin import check_in
from device_agent.enrolment import enrol
from device_agent.errors import AgentError, PinMismatchError, ServerError
from device_agent.payload import EnrolmentPayload
from device_agent.platform import open_platform
from device_agent.state import AgentState
from tests.factories.enrolment import create_token


def _payload(client: TestClient, headers: dict[str, str], **token: Any) -> EnrolmentPayload:
    created = create_token(client, headers, **token)
    return EnrolmentPayload.parse(json.dumps(created["payload"]))


def _enrol(
    app: FastAPI, payload: EnrolmentPayload, state: AgentState, spec: str = "virtual:SM-J530F"
):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    return asyncio.run(
        enrol(
            payload, state=state, platform=open_platform(spec, state.directory), transport=transport
        )
    )


class TestAgentEnrolment:
    def test_enrols_from_a_qr_payload_and_checks_in(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        state = AgentState(tmp_path / "agent")
        record = _enrol(app, _payload(client, admin_headers), state, "virtual:SM-J510FN")
        answer = asyncio.run(check_in(state=state, transport=httpx.ASGITransport(app=app)))
        assert answer["commands"] == []
        shown = client.get(f"/api/v1/devices/{record.device_id}", headers=admin_headers).json()
        assert shown["model"] == "SM-J510FN" and shown["android_version"] == "7.1.1"
        assert shown["posture"]["sdk"] == 25
        assert "com.android.settings" in shown["posture"]["apps"]["personal"]

    def test_keeps_its_state_readable_by_its_owner_only(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        state = AgentState(tmp_path / "agent")
        _enrol(app, _payload(client, admin_headers), state)
        assert stat.S_IMODE(state.directory.stat().st_mode) == 0o700
        files = list(state.directory.iterdir())
        assert {f.name for f in files} >= {"device.key", "device.pem", "ca.pem", "enrolment.json"}
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

    def test_never_sends_the_token_to_a_server_with_another_ca(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        created = create_token(client, admin_headers, uses=1)
        forged = EnrolmentPayload.of(created["payload"]["server"], created["token"], "ab" * 32)
        state = AgentState(tmp_path / "agent")
        with pytest.raises(PinMismatchError, match="refusing to send"):
            _enrol(app, forged, state)
        assert not state.is_enrolled
        token = client.get(f"/api/v1/enrolment-tokens/{created['id']}", headers=admin_headers)
        assert token.json()["uses_count"] == 0

    def test_reports_the_servers_reason_for_a_refusal(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        payload = _payload(client, admin_headers, uses=1)
        _enrol(app, payload, AgentState(tmp_path / "first"))
        with pytest.raises(ServerError) as refused:
            _enrol(app, payload, AgentState(tmp_path / "second"))
        assert (refused.value.status, refused.value.code) == (403, "enrolment_token_exhausted")

    def test_refuses_to_enrol_a_state_directory_twice(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        state = AgentState(tmp_path / "agent")
        _enrol(app, _payload(client, admin_headers), state)
        with pytest.raises(AgentError, match="already holds"):
            _enrol(app, _payload(client, admin_headers), state)

    def test_signs_assertions_the_server_accepts_with_htu_the_path(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        state = AgentState(tmp_path / "agent")
        _enrol(app, _payload(client, admin_headers), state)
        identity = state.identity()
        token = identity.assertion(method="post", url="http://testserver/api/v1/device/checkin")
        claims = jwt.decode(token, options={"verify_signature": False})
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
        assert (claims["htm"], claims["htu"]) == ("POST", "/api/v1/device/checkin")
        assert claims["iss"] == claims["sub"] == identity.device_id
        assert claims["aud"] == "http://testserver"
        assert 0 < claims["exp"] - claims["iat"] <= 60


class TestPayload:
    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("not json", "not JSON"),
            ("[1]", "JSON object"),
            ('{"server": "http://x", "token": "t"}', "ca_sha256"),
            ('{"server": "ftp://x", "token": "t", "ca_sha256": "' + "a" * 64 + '"}', "http"),
            ('{"server": "http://x", "token": "t", "ca_sha256": "xyz"}', "64 hexadecimal"),
        ],
    )
    def test_refuses_a_bad_payload_saying_why(self, text: str, problem: str) -> None:
        with pytest.raises(AgentError, match=problem):
            EnrolmentPayload.parse(text)

    def test_accepts_a_fingerprint_with_colons_and_capitals(self) -> None:
        fingerprint = ":".join(["AB"] * 32)
        payload = EnrolmentPayload.of("https://mdm.example/", "t", fingerprint)
        assert payload.ca_sha256 == "ab" * 32 and payload.server == "https://mdm.example"
