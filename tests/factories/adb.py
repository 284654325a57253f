"""ADB clients for tests: adb-shell with a real RSA host key, timeouts always set."""

from __future__ import annotations

from pathlib import Path

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
