"""The agent's state directory: mode 0700, every file 0600, every write atomic."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from device_agent.errors import AgentError, NotEnrolledError
from device_agent.identity import DeviceIdentity

KEY_FILE = "device.key"
CERT_FILE = "device.pem"
CA_FILE = "ca.pem"
ENROLMENT_FILE = "enrolment.json"
PLATFORM_FILE = "platform.json"
POLICY_FILE = "policy.json"
WIPED_FILE = "wiped.json"


@dataclass(frozen=True)
class EnrolmentRecord:
    device_id: str
    server: str
    audience: str
    ca_sha256: str
    checkin_interval_s: int
    enrolled_at: str
    platform: str


class AgentState:
    """Files the agent keeps between runs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = stat.S_IMODE(self.directory.stat().st_mode)
        if mode & 0o077:
            os.chmod(self.directory, 0o700)

    def path(self, name: str) -> Path:
        return self.directory / name

    def write(self, name: str, data: bytes) -> None:
        """Replace file `name` atomically, readable by the owner only."""
        self.ensure()
        target = self.path(name)
        tmp = target.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        self.write(name, json.dumps(data, indent=2, sort_keys=True).encode() + b"\n")

    def read_json(self, name: str) -> dict[str, Any]:
        data = json.loads(self.read(name))
        if not isinstance(data, dict):
            raise AgentError(f"{self.path(name)} is not a JSON object")
        return data

    @property
    def is_enrolled(self) -> bool:
        return self.path(ENROLMENT_FILE).exists()

    def save_enrolment(
        self, record: EnrolmentRecord, identity: DeviceIdentity, ca_pem: str
    ) -> None:
        self.write(KEY_FILE, identity.private_pem())
        self.write(CERT_FILE, identity.certificate_pem.encode())
        self.write(CA_FILE, ca_pem.encode())
        self.write_json(ENROLMENT_FILE, asdict(record))  # last: its presence means enrolled

    def enrolment(self) -> EnrolmentRecord:
        if not self.is_enrolled:
            raise NotEnrolledError(f"no enrolment in {self.directory}; run `tabard agent enrol`")
        return EnrolmentRecord(**self.read_json(ENROLMENT_FILE))

    def identity(self) -> DeviceIdentity:
        record = self.enrolment()
        return DeviceIdentity(
            device_id=record.device_id,
            key=DeviceIdentity.load_key(self.read(KEY_FILE)),
            certificate_pem=self.read(CERT_FILE).decode(),
            audience=record.audience,
        )
