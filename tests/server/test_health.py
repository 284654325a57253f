"""Liveness and readiness, as a load balancer asks them: readiness fails, with a code and no
file names, when a key the server loaded is gone, replaced, opened to others or expired."""

from __future__ import annotations

import os

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.crypto.ca import CA_KEY_FILE
from mdm_server.crypto.master import KEY_FILE as MASTER_KEY_FILE
from tests.conftest import FakeClock
from tests.support import error_of


def test_liveness_and_readiness_answer_when_all_is_well(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["schema"]


class TestKeys:
    def assert_not_ready(
        self, client: TestClient, caplog: pytest.LogCaptureFixture, logged: str
    ) -> None:
        response = client.get("/api/v1/ready")
        assert response.status_code == 503
        assert error_of(response) == "keys_unavailable"
        assert ".key" not in response.text and "keys/" not in response.text
        assert logged in caplog.text  # the operator is told which, in the log

    def test_a_missing_key_file(
        self, app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = app.state.context.keys.path(MASTER_KEY_FILE)
        path.unlink()
        self.assert_not_ready(client, caplog, f"{path} is missing")

    def test_a_key_file_replaced_under_the_running_server(
        self, app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = app.state.context.keys.path(MASTER_KEY_FILE)
        path.write_bytes(os.urandom(32))
        self.assert_not_ready(client, caplog, f"{path} changed since the server loaded it")

    def test_a_key_file_opened_to_others(
        self, app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = app.state.context.keys.path(CA_KEY_FILE)
        path.chmod(0o644)
        self.assert_not_ready(client, caplog, f"chmod 600 {path}")

    def test_an_expired_device_ca(
        self,
        app: FastAPI,
        client: TestClient,
        clock: FakeClock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        expires = app.state.context.ca.certificate.not_valid_after_utc
        clock.now = expires
        self.assert_not_ready(client, caplog, "the device CA certificate expired at")

    def test_the_key_contents_are_never_in_the_log(
        self, app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = app.state.context.keys.path(MASTER_KEY_FILE)
        before = path.read_bytes()
        path.write_bytes(os.urandom(32))
        client.get("/api/v1/ready")
        assert before.hex() not in caplog.text and path.read_bytes().hex() not in caplog.text
