"""ADB over TCP with adb-shell, for the agent's `adb` platform and for provisioning: a host key
generated once and kept 0600, a timeout on everything, Nagle's algorithm off, and adb-shell's
exceptions turned into messages that say what to do."""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
from pathlib import Path
from types import TracebackType

from adb_shell.adb_device import AdbDevice
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.exceptions import (
    AdbCommandFailureException,
    AdbConnectionError,
    AdbTimeoutError,
    DeviceAuthError,
    InvalidResponseError,
    InvalidTransportError,
    PushFailedError,
    TcpTimeoutException,
)
from adb_shell.transport.tcp_transport import TcpTransport

from device_agent.errors import AgentError

TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0
KEY_FILE = "adbkey"
_LINK_ERRORS = (
    AdbConnectionError,
    AdbTimeoutError,
    InvalidResponseError,
    TcpTimeoutException,
    OSError,
)


class AdbError(AgentError):
    """ADB could not do what was asked; the message says what to do about it."""


class NoDelayTcpTransport(TcpTransport):  # type: ignore[misc]
    """adb-shell writes a message's header and payload separately; with Nagle's algorithm on,
    every request waits for the device's delayed ACK (40 ms on Linux). And adb-shell reads an
    orderly close as "no data yet", so a pulled cable would only show after the read timeout:
    here it is an error at once."""

    def connect(self, transport_timeout_s: float | None) -> None:
        super().connect(transport_timeout_s)
        self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def bulk_read(self, numbytes: int, transport_timeout_s: float | None) -> bytes:
        data = super().bulk_read(numbytes, transport_timeout_s)
        if not data and numbytes:
            raise ConnectionResetError("the device closed the connection")
        return bytes(data)


def host_signer(directory: Path) -> PythonRSASigner:
    """This host's ADB key from `directory`, generated (mode 0600) on first use."""
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = os.umask(0o077)
        try:
            keygen(str(path))
        finally:
            os.umask(old)
    os.chmod(path, 0o600)
    public = Path(f"{path}.pub")
    return PythonRSASigner(public.read_text(), path.read_text())


def parse_target(text: str) -> tuple[str, int]:
    """`HOST:PORT` (port 5555 if left out) as a host and a port number."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "5555")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AdbError(f"{text!r} is not HOST:PORT (for example 192.0.2.10:5555)")
    return host, int(port)


# `shell:` (v1) merges stderr into stdout and carries no exit status, so commands run by
# `run()` print theirs last (../shared/reference/android-adb.md section 2).
_STATUS = re.compile(r"(?:^|\n)__RC=(\d+)\n?$")


class AdbConnection:
    """One authenticated ADB connection to a device, over TCP or (with the `usb` extra) USB."""

    def __init__(
        self,
        host: str,
        port: int,
        signer: PythonRSASigner,
        *,
        device: AdbDevice | None = None,
        auth_timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.address = f"{host}:{port}" if device is None else host
        self._device = device or AdbDevice(
            NoDelayTcpTransport(host, port), default_transport_timeout_s=TIMEOUT_S
        )
        self._signer = signer
        self._auth_timeout_s = auth_timeout_s

    @classmethod
    def over_usb(
        cls, serial: str, signer: PythonRSASigner, *, auth_timeout_s: float = TIMEOUT_S
    ) -> AdbConnection:
        """A connection to the USB device with this serial (`adb devices` shows it)."""
        from adb_shell.adb_device import AdbDeviceUsb

        try:
            device = AdbDeviceUsb(serial=serial, default_transport_timeout_s=TIMEOUT_S)
        except InvalidTransportError:
            raise AdbError(
                "USB needs the `usb` extra: pip install 'tabard[usb]' (libusb1); "
                "or switch the device to ADB over TCP and use --target"
            ) from None
        return cls(f"usb:{serial}", 0, signer, device=device, auth_timeout_s=auth_timeout_s)

    def __enter__(self) -> AdbConnection:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        try:
            self._device.connect(
                rsa_keys=[self._signer],
                auth_timeout_s=self._auth_timeout_s,
                read_timeout_s=TIMEOUT_S,
            )
        except DeviceAuthError:
            raise AdbError(
                f"{self.address} did not accept this host's key: accept the USB debugging "
                'prompt on the device (tick "Always allow") and try again'
            ) from None
        except (AdbTimeoutError, TcpTimeoutException):
            raise AdbError(
                f"{self.address} did not let this host in: accept the USB debugging prompt on "
                'the device (tick "Always allow") and try again; if there is no prompt, check '
                "the device is on, reachable and has USB debugging on"
            ) from None
        except _LINK_ERRORS as exc:
            raise AdbError(f"cannot connect to {self.address}: {exc}") from None

    def shell(self, command: str) -> str:
        """The command's output (stdout and stderr, as `adb shell` shows them)."""
        try:
            output = self._device.shell(
                command,
                transport_timeout_s=TIMEOUT_S,
                read_timeout_s=COMMAND_TIMEOUT_S,
                timeout_s=COMMAND_TIMEOUT_S,
            )
        except _LINK_ERRORS as exc:
            raise AdbError(
                f"{self.address} went offline during `{command.split()[0]}`: {exc}"
            ) from None
        return str(output)

    def run(self, command: str) -> tuple[str, int]:
        """The command's merged output and its exit status (255 if the shell printed none)."""
        output = self.shell(f"{command}; echo __RC=$?")
        found = _STATUS.search(output)
        if found is None:
            return output, 255
        return output[: found.start()] + ("\n" if found.group(0).startswith("\n") else ""), int(
            found.group(1)
        )

    def push(self, data: bytes | Path, device_path: str, *, mode: int = 0o644) -> None:
        """Write `data` (bytes, or a local file, read as it is sent) to `device_path` over the
        sync service."""
        try:
            self._device.push(
                io.BytesIO(data) if isinstance(data, bytes) else str(data),
                device_path,
                st_mode=0o100000 | mode,
                transport_timeout_s=TIMEOUT_S,
                read_timeout_s=COMMAND_TIMEOUT_S,
            )
        except (AdbCommandFailureException, PushFailedError) as exc:
            raise AdbError(f"{self.address} refused the file {device_path}: {exc}") from None
        except _LINK_ERRORS as exc:
            raise AdbError(f"{self.address} went offline while receiving a file: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(*_LINK_ERRORS):
            self._device.close()
