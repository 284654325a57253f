"""APKs for the catalogue's tests: real signed APKs from the virtual device's builder, and
uploads through the API as an IT administrator would send them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from virtual_device.apk import build_apk, test_signer

APK_TYPE = "application/vnd.android.package-archive"
PACKAGE = "uk.police.optik"


def apk(
    package: str = PACKAGE, *, version_code: int = 1, signer: str = "force", **extra: Any
) -> bytes:
    """An APK signed by the test key `signer` (two names, two keys)."""
    return build_apk(package, version_code=version_code, signer=test_signer(signer), **extra)


def upload(client: Any, headers: dict[str, str], data: bytes, **params: str) -> Any:
    """POST the APK as the raw request body, as `tabard apps upload` does."""
    return client.post(
        "/api/v1/apps",
        content=data,
        params=params,
        headers={**headers, "Content-Type": APK_TYPE},
    )


def uploaded(client: TestClient, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """Upload an APK that must be taken in; what the server answered."""
    response = upload(client, headers, data)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body
