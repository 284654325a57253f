"""The enrolment payload an IT QR code carries: `{"server", "token", "ca_sha256"}`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from device_agent.errors import AgentError

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class EnrolmentPayload:
    server: str
    token: str
    ca_sha256: str | None

    @classmethod
    def parse(cls, text: str) -> EnrolmentPayload:
        """Parse and check a payload: the QR code's text, or the whole object
        `tabard tokens create --json` printed, whose `payload` member it is."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise AgentError("enrolment payload is not JSON") from None
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            data = data["payload"]
        if not isinstance(data, dict):
            raise AgentError("enrolment payload must be a JSON object")
        missing = [key for key in ("server", "token", "ca_sha256") if not data.get(key)]
        if missing:
            raise AgentError(f"enrolment payload lacks {', '.join(missing)}")
        return cls.of(str(data["server"]), str(data["token"]), str(data["ca_sha256"]))

    @classmethod
    def of(cls, server: str, token: str, ca_sha256: str | None) -> EnrolmentPayload:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AgentError(f"server must be an http(s) URL, not '{server}'")
        if not token:
            raise AgentError("enrolment token is empty")
        if ca_sha256 is not None:
            ca_sha256 = ca_sha256.lower().replace(":", "")
            if not _SHA256_HEX.match(ca_sha256):
                raise AgentError("ca_sha256 must be 64 hexadecimal digits")
        return cls(server=server.rstrip("/"), token=token, ca_sha256=ca_sha256)
