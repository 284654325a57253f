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


class TestErrorsAsDocumented:
    """The document gives each route the errors it answers, in the shape it answers them, so
    a client generated from it works (tests/fuzz checks every answer against it)."""

    def test_no_route_documents_fastapis_own_422(self, client: TestClient) -> None:
        text = client.get("/openapi.json").text
        assert "HTTPValidationError" not in text
        assert '"ValidationError"' not in text

    def test_every_error_answer_is_the_one_shape(self, client: TestClient) -> None:
        spec = client.get("/openapi.json").json()
        body = spec["components"]["schemas"]["ErrorBody"]
        assert body["required"] == ["error", "detail"]
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                for status, answer in operation["responses"].items():
                    if int(status) < 400:
                        continue
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)

    @pytest.mark.parametrize(
        ("path", "method", "statuses"),
        [
            ("/api/v1/devices/{reference}/retire", "post", {400, 401, 403, 404, 409, 413, 422}),
            ("/api/v1/users", "post", {400, 401, 403, 409, 413, 422}),
            ("/api/v1/auth/login", "post", {400, 401, 413, 422, 429}),
            ("/api/v1/device/checkin", "post", {400, 401, 409, 413, 422}),
            ("/api/v1/device/transactions", "post", {400, 401, 403, 413, 422, 503}),
            ("/api/v1/health", "get", set()),
            ("/api/v1/audit/checkpoint", "get", {404}),
        ],
    )
    def test_each_route_documents_the_errors_it_answers(
        self, client: TestClient, path: str, method: str, statuses: set[int]
    ) -> None:
        responses = client.get("/openapi.json").json()["paths"][path][method]["responses"]
        assert {int(status) for status in responses if int(status) >= 400} == statuses


class TestMethodsNotAllowed:
    def test_a_405_names_every_method_of_the_resource(self, client: TestClient) -> None:
        # GET and POST /api/v1/users are two routes; Starlette named only the first's.
        response = client.request("OPTIONS", "/api/v1/users")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.json()["detail"] == "OPTIONS is not allowed here; use GET or POST"
