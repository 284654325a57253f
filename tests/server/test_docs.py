"""The OpenAPI pages work without the internet and fetch nothing from elsewhere."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_pages_load_everything_from_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    references = [a or b for a, b in REFERENCE.findall(response.text)]
    assert references, "the page should reference its script"
    assert "http" not in response.text.lower().replace("http-equiv", "")
    for reference in references:
        assert reference.startswith("/"), reference
        assert client.get(reference).status_code == 200, reference


def test_the_openapi_document_describes_the_device_protocol(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Tabard"
    assert "/api/v1/device/checkin" in spec["paths"]
    assert "/docs" not in spec["paths"]
