from __future__ import annotations

import base64
import os
import struct

import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from virtual_device.adb.keys import HostKey, KeyFormatError, encode_android_pubkey
from virtual_device.adb.protocol import (
    A_CNXN,
    A_WRTE,
    HEADER,
    Message,
    ProtocolError,
    checksum,
    decode_header,
    encode,
    verify_payload,
)


class TestMessages:
    def test_round_trip_with_the_byte_sum_checksum(self) -> None:
        message = Message(A_WRTE, 7, 9, b"\x01\x02\xff")
        raw = encode(message)
        header = decode_header(raw[:24], max_payload=4096)
        assert (header.length, header.check) == (3, 0x102)
        assert verify_payload(header, raw[24:], with_checksum=True) == message

    def test_the_magic_is_the_command_inverted(self) -> None:
        command, *_, magic = HEADER.unpack(encode(Message(A_CNXN, 0x01000000, 4096, b"x"))[:24])
        assert magic == command ^ 0xFFFFFFFF

    def test_android_9_sends_no_checksum(self) -> None:
        raw = encode(Message(A_WRTE, 1, 2, b"abc"), with_checksum=False)
        assert HEADER.unpack(raw[:24])[4] == 0
        header = decode_header(raw[:24], max_payload=4096)
        assert verify_payload(header, raw[24:], with_checksum=False).data == b"abc"

    def test_refuses_bad_magic(self) -> None:
        raw = bytearray(encode(Message(A_WRTE, 1, 2, b"")))
        raw[20] ^= 1
        with pytest.raises(ProtocolError, match="magic"):
            decode_header(bytes(raw[:24]), max_payload=4096)

    def test_refuses_an_unknown_command(self) -> None:
        raw = struct.pack("<6I", 0x12345678, 0, 0, 0, 0, 0x12345678 ^ 0xFFFFFFFF)
        with pytest.raises(ProtocolError, match="unknown command"):
            decode_header(raw, max_payload=4096)

    def test_refuses_an_oversized_payload(self) -> None:
        raw = encode(Message(A_WRTE, 1, 2, b"x" * 5000))
        with pytest.raises(ProtocolError, match="exceeds"):
            decode_header(raw[:24], max_payload=4096)

    def test_refuses_a_bad_checksum(self) -> None:
        raw = encode(Message(A_WRTE, 1, 2, b"abc"))
        header = decode_header(raw[:24], max_payload=4096)
        with pytest.raises(ProtocolError, match="checksum"):
            verify_payload(header, b"abd", with_checksum=True)

    def test_checksum_wraps_at_32_bits(self) -> None:
        assert checksum(b"\xff" * 0x1010102) == (0xFF * 0x1010102) & 0xFFFFFFFF


class TestHostKeys:
    def test_verifies_a_token_signed_by_adb_shell_as_adbd_does(
        self, signer: PythonRSASigner
    ) -> None:
        key = HostKey.parse(signer.GetPublicKey())
        token = os.urandom(20)
        assert key.verifies(token, signer.Sign(token))
        assert not key.verifies(os.urandom(20), signer.Sign(token))
        assert not key.verifies(token, b"\0" * 256)

    def test_the_android_key_format_round_trips(self, signer: PythonRSASigner) -> None:
        key = HostKey.parse(signer.GetPublicKey())
        assert base64.b64encode(encode_android_pubkey(key.public_key)).decode() == key.blob
        assert key.comment  # "user@host"

    @pytest.mark.parametrize(
        "line",
        [
            "not base64 !!",
            base64.b64encode(b"short").decode(),
            base64.b64encode(b"\0" * 524).decode(),
        ],
    )
    def test_refuses_what_is_not_an_android_public_key(self, line: str) -> None:
        with pytest.raises(KeyFormatError):
            HostKey.parse(line)
