"""Bad input gets a 4xx with a JSON error body, never a 500, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit.models import AuditEvent
from mdm_server.auth.models import RefreshToken, StaffUser
from mdm_server.commands.models import Command
from mdm_server.config import Settings
from mdm_server.db import Database
from mdm_server.deps import PUBLIC
from mdm_server.devices.models import Device, DeviceCertificate, PostureRecord
from mdm_server.enrolment.models import EnrolmentToken
from mdm_server.main import create_app
from tests.conftest import FakeClock, make_settings
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for
from tests.support import error_of, row_counts

TABLES = (
    StaffUser,
    RefreshToken,
    EnrolmentToken,
    Device,
    DeviceCertificate,
    PostureRecord,
    AuditEvent,
)
POSTS = [
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/device/enrol",
    "/api/v1/users",
    "/api/v1/enrolment-tokens",
    "/api/v1/device/checkin",
]


@pytest.fixture
def small_limit_client(
    tmp_path: Path, database: Database, clock: FakeClock
) -> Iterator[TestClient]:
    settings: Settings = make_settings(tmp_path / "small", max_body_bytes=4096)
    with TestClient(create_app(settings, database=database, clock=clock)) as client:
        yield client


def _unchanged(app: FastAPI) -> dict[str, int]:
    return row_counts(app.state.context.database, *TABLES)


class TestMalformedRequests:
    @pytest.mark.parametrize("path", POSTS)
    def test_malformed_json_is_a_400(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], path: str
    ) -> None:
        before = _unchanged(app)
        response = client.post(
            path,
            content=b'{"token": ',
            headers={**admin_headers, "content-type": "application/json"},
        )
        assert response.status_code == 400
        assert error_of(response) == "malformed_json"
        assert _unchanged(app) == before

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/api/v1/auth/login", {"username": 5, "password": ["x"]}),
            ("/api/v1/auth/login", [1, 2, 3]),
            ("/api/v1/users", {"username": "someone", "role": "auditor", "display_name": {"a": 1}}),
            ("/api/v1/enrolment-tokens", {"group": "g", "uses": "lots"}),
            ("/api/v1/device/enrol", {"token": "t", "csr": 42, "facts": "none"}),
        ],
    )
    def test_wrong_types_are_a_422_with_located_errors(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], path: str, body: Any
    ) -> None:
        before = _unchanged(app)
        response = client.post(path, json=body, headers=admin_headers)
        assert response.status_code == 422
        assert error_of(response) == "invalid_request"
        assert all(set(item) == {"field", "problem"} for item in response.json()["detail"])
        assert _unchanged(app) == before

    def test_validation_errors_never_echo_the_input(self, client: TestClient) -> None:
        secret = "hunter2-but-much-longer-" * 50
        response = client.post("/api/v1/auth/login", json={"username": "x", "password": secret})
        assert response.status_code == 422
        assert secret not in response.text

    @pytest.mark.parametrize(
        "csr",
        [
            "",
            "not a csr",
            "-----BEGIN CERTIFICATE REQUEST-----\nZm9v\n-----END CERTIFICATE REQUEST-----",
            "-----BEGIN CERTIFICATE REQUEST-----\n"
            + "A" * 4000
            + "\n-----END CERTIFICATE REQUEST-----",
            "\x00\x01\x02",
            "ü" * 100,
        ],
    )
    def test_garbage_csrs_are_refused_and_nothing_is_written(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], csr: str
    ) -> None:
        token = create_token(client, admin_headers)["token"]
        before = _unchanged(app)
        body = SimulatedDevice().enrolment_body(token, csr=csr)
        response = client.post("/api/v1/device/enrol", json=body)
        assert response.status_code in (400, 422)
        assert set(response.json()) == {"error", "detail"}
        assert _unchanged(app) == before


class TestOversizedBodies:
    def test_a_declared_oversize_body_is_a_413(self, small_limit_client: TestClient) -> None:
        response = small_limit_client.post(
            "/api/v1/auth/login", content=b"x" * 5000, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert error_of(response) == "payload_too_large"

    def test_a_streamed_oversize_body_is_a_413(self, small_limit_client: TestClient) -> None:
        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b'{"a": "' + b"x" * 1000 + b'"}'

        response = small_limit_client.post(
            "/api/v1/device/enrol", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert error_of(response) == "payload_too_large"

    def test_a_bogus_content_length_is_a_400(self, small_limit_client: TestClient) -> None:
        response = small_limit_client.post(
            "/api/v1/auth/login",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": "lots"},
        )
        assert response.status_code == 400

    def test_posture_with_too_many_apps_is_refused(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        apps = {"personal": [f"com.example.app{n}" for n in range(2001)]}
        response = enrolled.checkin(client, now=clock(), posture={"apps": apps})
        assert response.status_code == 422


class TestErrorsThemselves:
    def test_an_unknown_route_is_a_json_404(self, client: TestClient) -> None:
        response = client.get("/api/v1/nothing-here")
        assert (response.status_code, error_of(response)) == (404, "not_found")

    def test_a_wrong_method_is_a_json_405(self, client: TestClient) -> None:
        response = client.delete("/api/v1/health")
        assert (response.status_code, error_of(response)) == (405, "method_not_allowed")

    def test_a_crash_is_a_500_without_a_stack_trace(
        self, app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        def explode() -> None:
            raise RuntimeError("secret internals: key=abc123")

        app.add_api_route("/api/v1/explode", explode, dependencies=[Depends(PUBLIC)])
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/api/v1/explode", headers={"x-request-id": "trace-me-1"})
        assert response.status_code == 500
        assert error_of(response) == "internal_error"
        assert "trace-me-1" in response.json()["detail"]
        assert "secret internals" not in response.text and "Traceback" not in response.text
        assert "secret internals" in caplog.text  # but the operator can see it

    def test_every_response_carries_a_request_id(self, client: TestClient) -> None:
        assert len(client.get("/api/v1/health").headers["x-request-id"]) == 32


class TestModelsBuiltInsideRoutes:
    """A model a route or service builds from what the caller sent may refuse it; that is the
    caller's mistake, answered as a located 422, never a 500."""

    @pytest.mark.parametrize("reference", ["a", "ab", "abc"])
    def test_retiring_by_a_reference_too_short_is_a_422(
        self, app: FastAPI, admin_headers: dict[str, str], reference: str
    ) -> None:
        before = row_counts(app.state.context.database, Command, AuditEvent)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post(
                f"/api/v1/devices/{reference}/retire",
                json={"reason": "screen smashed on patrol"},
                headers=admin_headers,
            )
        assert response.status_code == 422, response.text
        assert error_of(response) == "invalid_request"
        [problem] = response.json()["detail"]
        assert problem["field"] == "device"
        assert "at least 4 characters" in problem["problem"]
        assert row_counts(app.state.context.database, Command, AuditEvent) == before

    def test_a_validators_own_words_carry_no_python_prefix(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/commands",
            json={"type": "lock_device", "target": {}, "reason": "testing the lock"},
            headers=admin_headers,
        )
        assert response.status_code == 422
        problems = [item["problem"] for item in response.json()["detail"]]
        assert "give exactly one of device, devices, group or filter" in problems
        assert not any("Value error" in problem for problem in problems)


class TestValuesTooLargeToStore:
    """A number the schema allows but the database cannot hold (past 64 bits) is a 422, on
    SQLite (OverflowError) and PostgreSQL (DataError) alike, never a 500."""

    @pytest.mark.parametrize(
        ("role", "url"),
        [
            ("it_admin", "/api/v1/users?offset=9223372036854775808"),
            ("it_admin", "/api/v1/devices?offset=9223372036854775808"),
            ("it_admin", "/api/v1/commands?offset=9223372036854775808"),
            ("auditor", "/api/v1/audit/events/9223372036854775808"),
            ("auditor", "/api/v1/audit/flags?offset=9223372036854775808"),
        ],
    )
    def test_a_number_past_64_bits_is_a_422(self, app: FastAPI, role: str, url: str) -> None:
        headers = headers_for(app, role)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get(url, headers=headers)
        assert response.status_code == 422, response.text
        assert error_of(response) == "out_of_range"
        assert "too large" in response.json()["detail"]


class TestWordsNotPython:
    """What the caller sent is quoted in words, never as a Python repr with escapes."""

    def test_a_reference_with_control_characters_is_quoted_plainly(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.get("/api/v1/devices/J5%01%1f\U000d69a2x", headers=admin_headers)
        assert response.status_code == 404
        detail = response.json()["detail"]
        assert detail == "no device with id or serial 'J5\ufffd\ufffd\ufffdx'"
        assert "\\x" not in response.text and "\\U" not in response.text

    def test_an_unknown_command_type_is_quoted_plainly(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        body = {"type": "lock\x16", "target": {"device": "abcd"}, "reason": "testing words"}
        response = client.post("/api/v1/commands", json=body, headers=admin_headers)
        assert response.status_code == 400
        assert response.json()["detail"].startswith("unknown command type 'lock\ufffd'; use one of")
