"""ADB messages on the wire: a 24-byte little-endian header and a payload.

Pure: no I/O. Sources: AOSP adb/protocol.txt and adb/adb.h (android-7.1.2_r1, android-9.0.0_r1),
and ../shared/reference/android-adb.md section 2."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("<6I")
HEADER_SIZE = HEADER.size  # 24

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
COMMANDS = {A_SYNC, A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE}
NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_AUTH: "AUTH",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
}

AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3
TOKEN_SIZE = 20

VERSION_MIN = 0x01000000
VERSION_SKIP_CHECKSUM = 0x01000001  # Android 9: checksums are no longer sent or checked


class ProtocolError(Exception):
    """A peer broke the protocol; the connection is dropped."""


@dataclass(frozen=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return NAMES.get(self.command, f"0x{self.command:08x}")


def checksum(data: bytes) -> int:
    """adb's data_check: the byte sum of the payload, not a CRC."""
    return sum(data) & 0xFFFFFFFF


def encode(message: Message, *, with_checksum: bool = True) -> bytes:
    check = checksum(message.data) if with_checksum else 0
    header = HEADER.pack(
        message.command,
        message.arg0,
        message.arg1,
        len(message.data),
        check,
        message.command ^ 0xFFFFFFFF,
    )
    return header + message.data


@dataclass(frozen=True)
class Header:
    command: int
    arg0: int
    arg1: int
    length: int
    check: int


def decode_header(raw: bytes, *, max_payload: int) -> Header:
    """Check a header's magic, command and declared length; refuse anything else."""
    command, arg0, arg1, length, check, magic = HEADER.unpack(raw)
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic 0x{magic:08x} for command 0x{command:08x}")
    if command not in COMMANDS:
        raise ProtocolError(f"unknown command 0x{command:08x}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the maximum of {max_payload}")
    return Header(command, arg0, arg1, length, check)


def verify_payload(header: Header, data: bytes, *, with_checksum: bool) -> Message:
    if with_checksum and checksum(data) != header.check:
        raise ProtocolError("payload checksum mismatch")
    return Message(header.command, header.arg0, header.arg1, data)
