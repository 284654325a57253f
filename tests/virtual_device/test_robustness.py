"""Hostile or broken peers lose their own connection and nothing else; many at once work."""

from __future__ import annotations

import socket
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from tests.factories.adb import connect
from virtual_device import VirtualDevice
from virtual_device.adb.protocol import A_CNXN, A_WRTE, Message, encode
from virtual_device.host import DeviceHost, RunningDevice

CNXN = Message(A_CNXN, 0x01000000, 1048576, b"host::tests\0")


def raw_bytes(kind: str) -> bytes:
    good = encode(CNXN)
    if kind == "bad checksum":
        header = bytearray(good[:24])
        header[16] ^= 0xFF
        return bytes(header) + good[24:]
    if kind == "bad magic":
        header = bytearray(good[:24])
        header[20] ^= 0xFF
        return bytes(header) + good[24:]
    if kind == "truncated header":
        return good[:13]
    if kind == "truncated payload":
        return good[:30]
    if kind == "oversized":
        return struct.pack("<6I", A_WRTE, 1, 1, 16 * 1024 * 1024, 0, A_WRTE ^ 0xFFFFFFFF)
    if kind == "unknown command":
        return struct.pack("<6I", 0x41414141, 0, 0, 0, 0, 0x41414141 ^ 0xFFFFFFFF)
    raise AssertionError(kind)


def dropped(running: RunningDevice, data: bytes) -> bool:
    """Send `data`, stop writing, and see whether the device hangs up without a word."""
    with socket.create_connection((running.host, running.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        return received == b""


class TestBrokenPeers:
    @pytest.mark.parametrize(
        "kind",
        [
            "bad checksum",
            "bad magic",
            "truncated header",
            "truncated payload",
            "oversized",
            "unknown command",
        ],
    )
    def test_a_broken_packet_drops_only_its_connection(
        self, host: DeviceHost, signer: PythonRSASigner, kind: str
    ) -> None:
        running = host.add(VirtualDevice.create("SM-J530F", seed=31), accept_new_keys=True)
        bystander = connect(running, signer)
        assert dropped(running, raw_bytes(kind))
        assert bystander.shell("echo still serving") == "still serving\n"
        bystander.close()

    def test_a_good_handshake_is_answered_not_dropped(self, host: DeviceHost) -> None:
        running = host.add(VirtualDevice.create("SM-J530F", seed=32))
        with socket.create_connection((running.host, running.port), timeout=10) as sock:
            sock.sendall(encode(CNXN))
            command, arg0, *_ = struct.unpack("<6I", sock.recv(24))
            assert (command, arg0) == (0x48545541, 1)  # AUTH TOKEN

    def test_an_unknown_service_is_refused_with_clse(self, host: DeviceHost) -> None:
        from tests.factories.adb import RawAdb

        running = host.add(VirtualDevice.create("SM-J530F", seed=33))
        running.device.props["ro.adb.secure"] = "0"  # an insecure build: no AUTH step
        adb = RawAdb(running)
        adb.send(Message(0x4E45504F, 77, 0, b"jdwp:123\0"))  # OPEN
        refusal = adb.receive()
        adb.close()
        assert (refusal.command, refusal.arg0, refusal.arg1) == (0x45534C43, 0, 77)  # CLSE(0, 77)


class TestScale:
    def test_a_hundred_concurrent_shells_on_one_device(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-T580", seed=34)
        running = host.add(device, accept_new_keys=True)

        def one(index: int) -> str:
            adb = connect(running, signer)
            try:
                return str(adb.shell(f"echo {index}; getprop ro.serialno"))
            finally:
                adb.close()

        with ThreadPoolExecutor(max_workers=100) as pool:
            outputs = list(pool.map(one, range(100)))
        assert outputs == [f"{index}\n{device.serial}\n" for index in range(100)]

    def test_fifty_devices_in_one_process(self, host: DeviceHost, signer: PythonRSASigner) -> None:
        fleet = [
            host.add(VirtualDevice.create("SM-J530F", seed=100 + n), accept_new_keys=True)
            for n in range(50)
        ]
        assert len({running.port for running in fleet}) == 50

        def serial_of(running: RunningDevice) -> str:
            adb = connect(running, signer)
            try:
                return str(adb.shell("getprop ro.serialno")).strip()
            finally:
                adb.close()

        with ThreadPoolExecutor(max_workers=10) as pool:
            serials = list(pool.map(serial_of, fleet))
        assert serials == [running.device.serial for running in fleet]


class TestPtySession:
    def test_shell_v2_pty_prompts_echoes_and_reports_the_exit_status(
        self, host: DeviceHost
    ) -> None:
        from tests.factories.adb import RawAdb
        from virtual_device.adb.protocol import A_CLSE, A_OKAY, A_OPEN
        from virtual_device.adb.streams import (
            ID_CLOSE_STDIN,
            ID_EXIT,
            ID_STDIN,
            ID_STDOUT,
            v2_packet,
        )

        running = host.add(VirtualDevice.create("SM-J530F", seed=35))
        running.device.props["ro.adb.secure"] = "0"
        adb = RawAdb(running)
        adb.send(Message(A_OPEN, 5, 0, b"shell,v2,TERM=xterm-256color,pty:\0"))
        opened = adb.receive()
        assert opened.command == A_OKAY
        device_id = opened.arg0
        stdin = v2_packet(ID_STDIN, b"getprop ro.product.model\r") + v2_packet(ID_CLOSE_STDIN, b"")
        adb.send(Message(A_WRTE, 5, device_id, stdin))
        output, status = b"", None
        while True:
            message = adb.receive()
            if message.command == A_WRTE:
                adb.send(Message(A_OKAY, 5, device_id))
                data = message.data
                while data:
                    packet_id, length = struct.unpack_from("<BI", data)
                    payload, data = data[5 : 5 + length], data[5 + length :]
                    if packet_id == ID_STDOUT:
                        output += payload
                    elif packet_id == ID_EXIT:
                        status = payload[0]
            elif message.command == A_CLSE:
                break
        adb.close()
        assert output.startswith(b"j5y17lte:/ $ getprop ro.product.model\r\n")
        assert b"SM-J530F\r\n" in output
        assert status == 0
