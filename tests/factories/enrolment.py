"""Enrolment tokens for tests, created through the API as IT would."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def create_token(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {"group": "response", "uses": 5, **overrides}
    response = client.post("/api/v1/enrolment-tokens", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
