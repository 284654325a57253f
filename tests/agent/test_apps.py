"""The agent installs, updates and removes catalogue apps as signed commands: it downloads the
APK the command names (resuming a cut download with HTTP Range), refuses a file whose digest
differs, installs through its Platform and returns a signed receipt with the installed
versionCode; Android's refusals come back in the receipt, with nothing half-installed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from device_agent.agent import Agent
from device_agent.apps import download_path
from device_agent.executor import poll_once
from device_agent.state import PLATFORM_FILE
from tests.agent.test_commands import command_state
from tests.agent.test_secure_side import Device, run
from tests.factories.commands import send
from virtual_device.apk import build_apk, test_signer

PACKAGE = "uk.police.pnc"


def catalogue_apk(device: Device, data: bytes) -> dict[str, Any]:
    """Upload an APK to the catalogue as IT would; the install parameters naming it."""
    response = device.client.post(
        "/api/v1/apps",
        content=data,
        headers={**device.admin, "content-type": "application/vnd.android.package-archive"},
    )
    assert response.status_code in (200, 201, 409), response.text
    if response.status_code == 409:  # held for a signer change: its digest is what we need
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    version = response.json()["version"]
    return {"sha256": version["sha256"], "size": version["size"]}


def order(device: Device, kind: str, **params: Any) -> dict[str, Any]:
    return send(device.client, device.admin, device.state.enrolment().device_id, kind, **params)


def installed(device: Device, user: int) -> dict[str, int]:
    """The virtual device's packages for one user and their versionCodes, as saved."""
    model = json.loads(device.state.path(PLATFORM_FILE).read_text())["device"]
    versions = {p["name"]: p["version_code"] for p in model["packages"]}
    return {name: versions[name] for name in model["installs"].get(str(user), {})}


class CutTransport(httpx.AsyncBaseTransport):
    """The app over ASGI, but the first APK download is cut after `cut` bytes, as a network
    drop would; it records each download's Range header."""

    def __init__(self, app: Any, cut: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.cut: int | None = cut
        self.ranges: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "/device/apps/" not in request.url.path:
            return response
        self.ranges.append(request.headers.get("range"))
        cut, self.cut = self.cut, None
        if cut is None:
            return response
        body = await response.aread()

        async def stream() -> AsyncIterator[bytes]:
            yield body[:cut]
            raise httpx.ReadError("connection reset by peer", request=request)

        return httpx.Response(
            response.status_code, headers=response.headers, stream=_Stream(stream())
        )


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            yield chunk


class TestInstall:
    def test_an_install_lands_in_the_work_profile_and_the_receipt_names_its_version(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        apk = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=41))
        command = order(offline_device, "install_app", package=PACKAGE, version_code=41, **apk)
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome["result"] == "succeeded", outcome
        shown = command_state(offline_device, command["id"])
        assert (shown["state"], shown["receipt_verified"]) == ("succeeded", True)
        assert shown["evidence"] == {
            "package": PACKAGE,
            "profile": "work",
            "version_code": 41,
            "sha256": apk["sha256"],
        }
        assert installed(offline_device, 10)[PACKAGE] == 41
        assert PACKAGE not in installed(offline_device, 0)  # the personal side is untouched
        assert not download_path(offline_device.state, apk["sha256"]).exists()

    def test_an_update_then_a_downgrade_refused_without_allowance_and_done_with_it(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        v1 = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=1))
        # A debug build: the only kind Android 7 to 9 lets `pm install -d` downgrade.
        v2 = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=2, debuggable=True))
        order(offline_device, "install_app", package=PACKAGE, version_code=1, **v1)
        order(offline_device, "update_app", package=PACKAGE, version_code=2, **v2)
        assert [o["result"] for o in run(poll_once(agent, wait_s=0))] == ["succeeded"] * 2
        refused = order(offline_device, "install_app", package=PACKAGE, version_code=1, **v1)
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome["result"] == "failed"
        shown = command_state(offline_device, refused["id"])
        assert shown["evidence"] == {"reason": "INSTALL_FAILED_VERSION_DOWNGRADE"}
        assert "INSTALL_FAILED_VERSION_DOWNGRADE" in shown["error"]
        assert installed(offline_device, 10)[PACKAGE] == 2  # nothing half-installed
        back = order(
            offline_device,
            "install_app",
            package=PACKAGE,
            version_code=1,
            allow_downgrade=True,
            **v1,
        )
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome["command_id"] == back["id"] and outcome["result"] == "succeeded"
        assert installed(offline_device, 10)[PACKAGE] == 1

    def test_a_release_build_is_not_downgraded_even_when_allowed(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        """Android says where a rollback cannot be done: a release build keeps its version."""
        agent: Agent = first_entry(offline_device)
        v1 = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=1))
        v2 = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=2))
        order(offline_device, "install_app", package=PACKAGE, version_code=1, **v1)
        order(offline_device, "update_app", package=PACKAGE, version_code=2, **v2)
        assert [o["result"] for o in run(poll_once(agent, wait_s=0))] == ["succeeded"] * 2
        back = order(
            offline_device,
            "install_app",
            package=PACKAGE,
            version_code=1,
            allow_downgrade=True,
            **v1,
        )
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome["result"] == "failed"
        shown = command_state(offline_device, back["id"])
        assert shown["evidence"] == {"reason": "INSTALL_FAILED_VERSION_DOWNGRADE"}
        assert installed(offline_device, 10)[PACKAGE] == 2

    def test_an_update_leaves_a_device_without_the_app_alone(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        apk = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=3))
        command = order(offline_device, "update_app", package=PACKAGE, version_code=3, **apk)
        run(poll_once(agent, wait_s=0))
        shown = command_state(offline_device, command["id"])
        assert (shown["state"], shown["evidence"]) == ("failed", {"reason": "not_installed"})
        assert PACKAGE not in installed(offline_device, 10)

    def test_remove_takes_the_app_off_the_work_side_only(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        apk = catalogue_apk(offline_device, build_apk(PACKAGE, version_code=5))
        order(offline_device, "install_app", package=PACKAGE, version_code=5, **apk)
        removed = order(offline_device, "remove_app", package=PACKAGE)
        run(poll_once(agent, wait_s=0))
        shown = command_state(offline_device, removed["id"])
        assert shown["evidence"] == {"package": PACKAGE, "profile": "work", "was_installed": True}
        assert PACKAGE not in installed(offline_device, 10)


class TestDownload:
    def test_a_download_cut_halfway_resumes_where_it_stopped(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        data = build_apk(PACKAGE, version_code=7, padding=600_000)
        apk = catalogue_apk(offline_device, data)
        command = order(offline_device, "install_app", package=PACKAGE, version_code=7, **apk)
        half = len(data) // 2
        transport = CutTransport(offline_device.app, cut=half)
        cut_agent = Agent(offline_device.state, transport=transport, clock=offline_device.clock)
        try:
            (first,) = run(poll_once(cut_agent, wait_s=0))
            assert first["outcome"] == "interrupted"  # no receipt: the server sends it again
            assert download_path(offline_device.state, apk["sha256"]).stat().st_size == half
            assert command_state(offline_device, command["id"])["state"] == "delivered"
            (second,) = run(poll_once(cut_agent, wait_s=0))  # carries on with the envelope
        finally:
            cut_agent.close()
        assert second["result"] == "succeeded", second
        assert transport.ranges == [None, f"bytes={half}-"]
        assert installed(offline_device, 10)[PACKAGE] == 7
        del agent

    def test_a_tampered_download_is_deleted_and_never_installed(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        data = build_apk(PACKAGE, version_code=9)
        apk = catalogue_apk(offline_device, data)
        stored = offline_device.app.state.context.apks.path(apk["sha256"])
        stored.chmod(0o600)
        stored.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit changed
        command = order(offline_device, "install_app", package=PACKAGE, version_code=9, **apk)
        run(poll_once(agent, wait_s=0))
        shown = command_state(offline_device, command["id"])
        assert (shown["state"], shown["evidence"]) == ("failed", {"reason": "digest_mismatch"})
        assert "deleted, not installed" in shown["error"]
        assert PACKAGE not in installed(offline_device, 10)
        assert not download_path(offline_device.state, apk["sha256"]).exists()

    def test_a_version_held_for_a_signer_change_cannot_be_delivered_by_hand(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        catalogue_apk(offline_device, build_apk(PACKAGE, version_code=1))
        other = build_apk(PACKAGE, version_code=2, signer=test_signer("someone-else"))
        held = catalogue_apk(offline_device, other)
        command = order(offline_device, "install_app", package=PACKAGE, version_code=2, **held)
        run(poll_once(agent, wait_s=0))
        shown = command_state(offline_device, command["id"])
        assert shown["state"] == "failed"
        assert "apk_not_ordered" in shown["error"]
        assert PACKAGE not in installed(offline_device, 10)

    def test_a_device_cannot_download_an_apk_none_of_its_commands_names(
        self, offline_device: Device, first_entry: Any, tmp_path: Path
    ) -> None:
        agent: Agent = first_entry(offline_device)
        apk = catalogue_apk(offline_device, build_apk(PACKAGE))
        part = tmp_path / "x.part"

        async def fetch() -> Exception | None:
            async with agent.client() as client:
                try:
                    await client.download(
                        f"/api/v1/device/apps/{apk['sha256']}", part, size=apk["size"]
                    )
                except Exception as exc:
                    return exc
            return None

        refusal = run(fetch())
        assert refusal is not None and getattr(refusal, "status", None) == 404
        assert getattr(refusal, "code", None) == "apk_not_ordered"
        assert not part.exists() or part.stat().st_size == 0
