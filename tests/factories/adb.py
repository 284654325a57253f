"""ADB clients for tests: adb-shell with a real RSA host key, timeouts always set."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from virtual_device.host import RunningDevice

TIMEOUT_S = 10.0


def make_signer(directory: Path) -> PythonRSASigner:
    """A fresh host key pair in `directory`, as `adb` keeps in ~/.android/adbkey."""
    path = directory / "adbkey"
    if not path.exists():
        keygen(str(path))
    return PythonRSASigner.FromRSAKeyPath(str(path))


def connect(
    running: RunningDevice, signer: PythonRSASigner, *, auth_timeout_s: float = TIMEOUT_S
) -> AdbDeviceTcp:
    device = AdbDeviceTcp(running.host, running.port, default_transport_timeout_s=TIMEOUT_S)
    device.connect(
        rsa_keys=[signer],
        auth_timeout_s=auth_timeout_s,
        read_timeout_s=TIMEOUT_S,
        transport_timeout_s=TIMEOUT_S,
    )
    return device


class RawAdb:
    """The ADB protocol by hand, for what no client library exercises (pty sessions, broken
    peers). Talks to an insecure build (`ro.adb.secure=0`) so no AUTH step is needed."""

    def __init__(self, running: RunningDevice) -> None:
        import socket

        from virtual_device.adb.protocol import A_CNXN, Message

        self.sock = socket.create_connection((running.host, running.port), timeout=TIMEOUT_S)
        self.send(Message(A_CNXN, 0x01000000, 1048576, b"host::tests\0"))
        assert self.receive().command == A_CNXN

    def send(self, message: object) -> None:
        from virtual_device.adb.protocol import encode

        self.sock.sendall(encode(message))  # type: ignore[arg-type]

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("device closed the connection")
            data += chunk
        return data

    def receive(self):  # type: ignore[no-untyped-def]
        from virtual_device.adb.protocol import HEADER, Message

        command, arg0, arg1, length, _, _ = HEADER.unpack(self._exactly(24))
        return Message(command, arg0, arg1, self._exactly(length) if length else b"")

    def close(self) -> None:
        self.sock.close()


# The real adb client (Debian's package), to show virtual devices and what Tabard leaves on
# them are what any adb sees.
ADB = shutil.which("adb")
if ADB is None and os.environ.get("CI") == "true":
    raise RuntimeError("CI must install Debian's adb package (.ci/run does)")
needs_real_adb = pytest.mark.skipif(
    ADB is None, reason="the real adb client is not installed: apt-get install adb"
)


@dataclass
class AdbClient:
    env: dict[str, str]

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        assert ADB is not None
        return subprocess.run(
            [ADB, *args], env=self.env, capture_output=True, text=True, input=stdin, timeout=timeout
        )

    def on(
        self, running: RunningDevice, *args: str, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return self("-s", running.address, *args, **kwargs)  # type: ignore[arg-type]

    def connected(self, running: RunningDevice) -> RunningDevice:
        self("connect", running.address)
        assert self.on(running, "wait-for-device", timeout=30).returncode == 0
        return running


@contextmanager
def adb_server(home: Path) -> Iterator[AdbClient]:
    """An adb server of its own: its port, its HOME (so its own host key)."""
    from tests.e2e.harness import free_port

    env = {key: value for key, value in os.environ.items() if not key.startswith("ANDROID")}
    env.update(HOME=str(home), ANDROID_ADB_SERVER_PORT=str(free_port()), ADB_MDNS="0")
    client = AdbClient(env)
    assert client("start-server").returncode == 0
    try:
        yield client
    finally:
        client("kill-server")
