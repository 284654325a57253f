"""The agent's HTTP client for the device protocol (docs/device-protocol.md).

It takes an httpx transport, so tests can run it against `create_app(...)` in process
(`httpx.ASGITransport`) and end-to-end tests against a real server on a port."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from device_agent.errors import (
    AgentError,
    ServerError,
    ServerUnavailableError,
    UnreachableError,
)
from device_agent.identity import DeviceIdentity

DEFAULT_TIMEOUT_S = 30.0
SESSION_HEADER = "X-Tabard-Session"
# An idle connection is let go before the server would close it (uvicorn's keep-alive is 5 s),
# so a request never goes out on a connection the server is closing.
KEEPALIVE_EXPIRY_S = 4.0


def connections(
    server: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> httpx.AsyncClient:
    """A pool of HTTP connections to one server, for one or many `ServerClient`s."""
    return httpx.AsyncClient(
        base_url=server.rstrip("/"),
        transport=transport,
        timeout=timeout_s,
        headers={"user-agent": "tabard-agent/0.1"},
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
    )


class ServerClient:
    """Talks to one Tabard server, as an unenrolled device or as `identity`: over its own
    connections, or over a pool it is lent (`http`, from `connections`), which it leaves open."""

    def __init__(
        self,
        server: str,
        *,
        identity: DeviceIdentity | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.identity = identity
        self._owns_http = http is None
        self._http = http or connections(self.server, transport=transport, timeout_s=timeout_s)

    async def __aenter__(self) -> ServerClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def fetch_ca(self) -> dict[str, Any]:
        """The server's device CA certificate (`certificate`, `sha256`)."""
        return await self._request("GET", "/api/v1/ca")

    async def enrol(self, *, token: str, csr_pem: str, facts: dict[str, Any]) -> dict[str, Any]:
        return await self._request(
            "POST", "/api/v1/device/enrol", json={"token": token, "csr": csr_pem, "facts": facts}
        )

    async def checkin(self, posture: dict[str, Any]) -> dict[str, Any]:
        return await self._device_request("POST", "/api/v1/device/checkin", {"posture": posture})

    async def policy(self) -> dict[str, Any]:
        """The device's resolved policy (`version`, `digest`, `policy`)."""
        return await self._device_request("GET", "/api/v1/device/policy", None)

    async def open_secure_session(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._device_request("POST", "/api/v1/device/secure-sessions", body)

    async def end_secure_session(self, session_id: str, reason: str) -> dict[str, Any]:
        path = f"/api/v1/device/secure-sessions/{session_id}/end"
        return await self._device_request("POST", path, {"reason": reason})

    async def transaction(self, body: dict[str, Any], *, session_token: str) -> dict[str, Any]:
        return await self._device_request(
            "POST",
            "/api/v1/device/transactions",
            body,
            headers={SESSION_HEADER: session_token},
        )

    async def justifications(self, *, session_token: str) -> list[dict[str, Any]]:
        answer = await self._device_request(
            "GET", "/api/v1/device/justifications", None, headers={SESSION_HEADER: session_token}
        )
        return list(answer["items"])

    async def division_map(self, *, session_token: str) -> dict[str, Any]:
        """The officer's division map for the last week (docs/device-protocol.md §6.8)."""
        return await self._device_request(
            "GET", "/api/v1/device/map", None, headers={SESSION_HEADER: session_token}
        )

    async def justify(self, request_id: str, answer: str, *, session_token: str) -> dict[str, Any]:
        return await self._device_request(
            "POST",
            f"/api/v1/device/justifications/{request_id}",
            {"answer": answer},
            headers={SESSION_HEADER: session_token},
        )

    async def poll_commands(self, *, wait_s: int) -> dict[str, Any]:
        """Signed command envelopes; with `wait_s`, a long poll the server answers the moment
        one is queued."""
        return await self._device_request(
            "GET",
            "/api/v1/device/commands",
            None,
            params={"wait": wait_s},
            timeout_s=wait_s + DEFAULT_TIMEOUT_S,
        )

    async def submit_receipt(self, command_id: str, receipt: str) -> dict[str, Any]:
        path = f"/api/v1/device/commands/{command_id}/receipt"
        return await self._device_request("POST", path, {"receipt": receipt})

    async def report_lost(self, note: str | None = None) -> dict[str, Any]:
        """This device reports itself lost: the server destroys its container key and queues
        a lock and a secure-side wipe."""
        return await self._device_request("POST", "/api/v1/device/lost", {"note": note})

    async def upload_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Upload outbox events, each signed with the device key."""
        if self.identity is None:
            raise AgentError("this device is not enrolled")
        signed = [self.identity.sign_event(event) for event in events]
        return await self._device_request("POST", "/api/v1/device/events", {"events": signed})

    async def download(self, path: str, dest: Path, *, size: int) -> int:
        """Fetch `size` bytes from `path` into `dest` as the device, carrying on from what
        `dest` already holds (an HTTP Range request, RFC 9110 section 14) so a download cut
        halfway resumes where it stopped; the bytes this call fetched. A server that ignores
        the range gets the file again from the start; one that says the range is beyond the
        file (416) means `dest` is not a prefix of it, so it is started again."""
        if self.identity is None:
            raise AgentError("this request needs an enrolled device")
        have = dest.stat().st_size if dest.exists() else 0
        if have > size:
            dest.unlink()
            have = 0
        if have == size:
            return 0
        url = self._http.build_request("GET", path).url
        headers = {"authorization": f"Bearer {self.identity.assertion(method='GET', url=str(url))}"}
        if have:
            headers["range"] = f"bytes={have}-"
        fetched = 0
        try:
            async with self._http.stream("GET", path, headers=headers) as response:
                if response.status_code == 416 and have:
                    dest.unlink()
                    return await self.download(path, dest, size=size)
                if response.is_error:
                    await response.aread()
                    raise self._refusal(response)
                if response.status_code != 206:
                    have = 0  # the whole file, from its first byte
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "r+b") as out:
                    out.seek(have)
                    out.truncate()
                    async for chunk in response.aiter_bytes():
                        if have + fetched + len(chunk) > size:
                            raise AgentError(
                                f"{path}: the server sent more than the {size} bytes expected"
                            )
                        out.write(chunk)
                        fetched += len(chunk)
        except httpx.TransportError as exc:
            raise UnreachableError(
                f"the download from {self.server} was cut after {have + fetched} of {size} "
                f"bytes; it carries on from there next time: {exc}"
            ) from exc
        return fetched

    async def _device_request(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        if self.identity is None:
            raise AgentError("this request needs an enrolled device")
        url = self._http.build_request(method, path).url
        assertion = self.identity.assertion(method=method, url=str(url))
        return await self._request(
            method,
            path,
            json=body,
            headers={"authorization": f"Bearer {assertion}", **(headers or {})},
            params=params,
            timeout_s=timeout_s,
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"timeout": timeout_s} if timeout_s is not None else {}
        try:
            response = await self._http.request(
                method, path, json=json, headers=headers, params=params, **extra
            )
        except httpx.TransportError as exc:
            raise UnreachableError(f"cannot reach {self.server}: {exc}") from exc
        if response.is_error:
            raise self._refusal(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AgentError(f"{method} {path}: server answered with something other than JSON")
        return body

    @staticmethod
    def _refusal(response: httpx.Response) -> ServerError:
        """The server's refusal, from its `{"error", "detail"}` body where it sent one."""
        kind = ServerUnavailableError if response.status_code >= 500 else ServerError
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            return kind(response.status_code, str(body["error"]), body.get("detail"))
        return kind(response.status_code, "http_error", response.text[:200])
