"""A staff member's CLI session: tokens kept in TABARD_CONFIG_DIR (default ~/.config/tabard),
mode 0600, refreshed automatically."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import typer

from tabard.output import describe_detail, fail

SESSION_FILE = "session.json"
REFRESH_MARGIN = timedelta(seconds=30)


def config_dir() -> Path:
    configured = os.environ.get("TABARD_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".config" / "tabard"


@dataclass
class StoredSession:
    server: str
    username: str
    access_token: str
    expires_at: str
    refresh_token: str
    refresh_expires_at: str

    @classmethod
    def from_token_pair(cls, server: str, pair: dict[str, Any]) -> StoredSession:
        return cls(
            server=server,
            username=str(pair["user"]["username"]),
            access_token=str(pair["access_token"]),
            expires_at=str(pair["expires_at"]),
            refresh_token=str(pair["refresh_token"]),
            refresh_expires_at=str(pair["refresh_expires_at"]),
        )

    def save(self) -> None:
        directory = config_dir()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / SESSION_FILE
        tmp = path.with_name(f".{SESSION_FILE}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls) -> StoredSession:
        path = config_dir() / SESSION_FILE
        if not path.exists():
            fail("not logged in; run `tabard login --server URL --username NAME` first")
        return cls(**json.loads(path.read_text()))

    @staticmethod
    def forget() -> None:
        (config_dir() / SESSION_FILE).unlink(missing_ok=True)

    def access_expiring(self) -> bool:
        return datetime.fromisoformat(self.expires_at) - REFRESH_MARGIN <= datetime.now(UTC)


def segment(value: str) -> str:
    """Something a person typed (an id, a serial, a name), as one segment of an API path:
    it can name nothing but what it says, never `..` or another route."""
    if "/" in value or not value:
        fail(f"'{value}' is not a name or id Tabard uses: it cannot be empty or contain '/'")
    return quote(value, safe="").replace(".", "%2E")


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: Any) -> None:
        super().__init__(f"{code}: {describe_detail(detail)}")
        self.status = status
        self.code = code
        self.detail = detail


def _asks_for_step_up(response: httpx.Response) -> bool:
    """Whether the server asks for a code: not when it asks a single sign-on account to sign
    in at the provider again (RFC 9470 `insufficient_user_authentication`), which only
    `tabard login --sso` can do, as its 403 says."""
    if response.status_code != 403:
        return False
    if "insufficient_user_authentication" in response.headers.get("www-authenticate", ""):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "step_up_required"


def raise_for_error(response: httpx.Response) -> Any:
    """The JSON body of a successful response, or an `ApiError` from the error body."""
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_error:
        if isinstance(body, dict) and "error" in body:
            raise ApiError(response.status_code, str(body["error"]), body.get("detail"))
        raise ApiError(response.status_code, "http_error", response.text[:200])
    return body


class StaffClient:
    """An HTTP client for staff commands, authenticated as the stored session."""

    def __init__(self, session: StoredSession, *, transport: httpx.BaseTransport | None = None):
        self.session = session
        self._http = httpx.Client(base_url=session.server, timeout=30.0, transport=transport)

    @classmethod
    def from_stored(cls) -> StaffClient:
        return cls(StoredSession.load())

    def _refresh(self) -> None:
        response = self._http.post(
            "/api/v1/auth/refresh", json={"refresh_token": self.session.refresh_token}
        )
        try:
            pair = raise_for_error(response)
        except ApiError as exc:
            fail(f"session expired ({exc}); run `tabard login` again")
        self.session = StoredSession.from_token_pair(self.session.server, pair)
        self.session.save()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        params = kwargs.get("params")
        if isinstance(params, dict):  # an option left unset is left out
            kwargs["params"] = {name: value for name, value in params.items() if value is not None}
        if self.session.access_expiring():
            self._refresh()
        response = self._send_once(method, path, **kwargs)
        if _asks_for_step_up(response) and sys.stdin.isatty():
            self.step_up(str(typer.prompt("This needs your second factor again: code")).strip())
            response = self._send_once(method, path, **kwargs)
        return response

    def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {
            **kwargs.pop("headers", {}),
            "authorization": f"Bearer {self.session.access_token}",
        }
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            fail(f"cannot reach {self.session.server}: {exc}")

    def step_up(self, code: str) -> str:
        """Use the second factor now (`POST /api/v1/auth/step-up`) and keep the fresh access
        token it returns; when that token expires."""
        fresh = self.post("/api/v1/auth/step-up", json={"code": code})
        self.session.access_token = fresh["access_token"]
        self.session.expires_at = fresh["expires_at"]
        self.session.save()
        return str(fresh["expires_at"])

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API; refresh the access token first if it is about to expire."""
        return raise_for_error(self._send(method, path, **kwargs))

    def download(self, path: str, **kwargs: Any) -> bytes:
        """GET a file (not JSON): its bytes, or an `ApiError` from the error body."""
        response = self._send("GET", path, **kwargs)
        if response.is_error:
            raise_for_error(response)
        return response.content

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)
