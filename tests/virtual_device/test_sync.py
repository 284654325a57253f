"""The sync service against AOSP SYNC.TXT, without sockets."""

from __future__ import annotations

import stat
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from virtual_device.adb.sync import SYNC_DATA_MAX, SyncSession
from virtual_device.fs import VirtualFS

REQ = struct.Struct("<4sI")


def request(ident: bytes, payload: bytes = b"") -> bytes:
    return REQ.pack(ident, len(payload)) + payload


def send_file(path: str, data: bytes, *, mode: int = 0o100644, mtime: int = 1700000000) -> bytes:
    chunks = b"".join(
        request(b"DATA", data[i : i + SYNC_DATA_MAX]) for i in range(0, len(data), SYNC_DATA_MAX)
    )
    return request(b"SEND", f"{path},{mode}".encode()) + chunks + REQ.pack(b"DONE", mtime)


def run(session: SyncSession, *parts: bytes) -> bytes:
    return b"".join(b"".join(session.feed(part)) for part in parts)


class TestSend:
    def test_writes_the_file_with_its_mode_and_mtime_and_answers_okay(self) -> None:
        fs = VirtualFS.fresh()
        reply = run(SyncSession(fs), send_file("/data/local/tmp/a.apk", b"apk!", mode=0o100600))
        assert reply == REQ.pack(b"OKAY", 0)
        node = fs.lookup("/data/local/tmp/a.apk")
        assert (node.data, stat.S_IMODE(node.mode), node.mtime) == (b"apk!", 0o600, 1700000000)

    @settings(max_examples=40, deadline=None)
    @given(data=st.binary(max_size=3 * SYNC_DATA_MAX // 2), cuts=st.lists(st.integers(0, 10**6)))
    def test_any_split_into_packets_gives_the_same_result(
        self, data: bytes, cuts: list[int]
    ) -> None:
        stream = send_file("/sdcard/Download/x.bin", data)
        points = sorted({cut % (len(stream) + 1) for cut in cuts})
        parts = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
        fs = VirtualFS.fresh()
        assert run(SyncSession(fs), *parts) == REQ.pack(b"OKAY", 0)
        assert fs.read("/storage/emulated/0/Download/x.bin") == data

    def test_a_missing_comma_fails_as_adbd_does(self) -> None:
        session = SyncSession(VirtualFS.fresh())
        reply = run(session, request(b"SEND", b"/data/local/tmp/x"))
        assert reply == request(b"FAIL", b"missing , in ID_SEND")
        assert session.closed

    def test_writing_outside_the_shell_users_directories_fails(self) -> None:
        reply = run(SyncSession(VirtualFS.fresh()), send_file("/system/bin/evil", b"x"))
        assert reply == request(b"FAIL", b"couldn't create file: Read-only file system")
        reply = run(SyncSession(VirtualFS.fresh()), send_file("/data/data/x", b"x"))
        assert reply == request(b"FAIL", b"couldn't create file: Permission denied")

    def test_an_oversized_data_chunk_fails(self) -> None:
        session = SyncSession(VirtualFS.fresh())
        oversize = REQ.pack(b"DATA", SYNC_DATA_MAX + 1)
        reply = run(session, request(b"SEND", b"/data/local/tmp/x,420") + oversize)
        assert reply == request(b"FAIL", b"oversize data message")
        assert session.closed

    def test_parent_directories_are_created(self) -> None:
        fs = VirtualFS.fresh()
        run(SyncSession(fs), send_file("/data/local/tmp/a/b/c.txt", b"deep"))
        assert fs.lookup("/data/local/tmp/a/b").is_dir


class TestReadAndStat:
    def test_recv_streams_data_in_64k_chunks_then_done(self) -> None:
        fs = VirtualFS.fresh()
        payload = bytes(range(256)) * 600  # 153,600 bytes: three chunks
        fs.write("/data/local/tmp/f", payload, mode=0o644, mtime=1)
        reply = run(SyncSession(fs), request(b"RECV", b"/data/local/tmp/f"))
        sizes, offset, received = [], 0, b""
        while reply[offset : offset + 4] == b"DATA":
            (size,) = struct.unpack_from("<I", reply, offset + 4)
            received += reply[offset + 8 : offset + 8 + size]
            sizes.append(size)
            offset += 8 + size
        assert sizes == [65536, 65536, 22528]
        assert received == payload
        assert reply[offset:] == REQ.pack(b"DONE", 0)

    def test_recv_of_a_missing_file_fails_with_the_real_message(self) -> None:
        reply = run(SyncSession(VirtualFS.fresh()), request(b"RECV", b"/data/local/tmp/none"))
        assert reply == request(b"FAIL", b"open failed: No such file or directory")

    def test_stat_v1_is_all_zeros_for_a_missing_path(self) -> None:
        session = SyncSession(VirtualFS.fresh())
        assert run(session, request(b"STAT", b"/nope")) == struct.pack("<4sIII", b"STAT", 0, 0, 0)
        mode, size, _ = struct.unpack(
            "<III", run(session, request(b"STAT", b"/data/local/tmp"))[4:]
        )
        assert stat.S_ISDIR(mode) and size == 0

    def test_stat_v2_reports_errno_and_follows_links(self) -> None:
        session = SyncSession(VirtualFS.fresh())
        missing = run(session, request(b"STA2", b"/nope"))
        assert missing[:8] == b"STA2" + struct.pack("<I", 2)  # ENOENT
        followed = run(session, request(b"STA2", b"/sdcard"))
        linked = run(session, request(b"LST2", b"/sdcard"))
        mode_at = 4 + 4 + 8 + 8
        assert stat.S_ISDIR(struct.unpack_from("<I", followed, mode_at)[0])
        assert stat.S_ISLNK(struct.unpack_from("<I", linked, mode_at)[0])
        assert linked[:4] == b"LST2"

    def test_list_sends_dot_entries_then_done(self) -> None:
        fs = VirtualFS.fresh()
        fs.write("/data/local/tmp/one", b"1", mode=0o644, mtime=5)
        reply = run(SyncSession(fs), request(b"LIST", b"/data/local/tmp"))
        names, offset = [], 0
        while reply[offset : offset + 4] == b"DENT":
            *_, length = struct.unpack_from("<IIII", reply, offset + 4)
            names.append(reply[offset + 20 : offset + 20 + length].decode())
            offset += 20 + length
        assert names == [".", "..", "one"]
        assert reply[offset:] == struct.pack("<4sIIII", b"DONE", 0, 0, 0, 0)

    def test_quit_ends_the_session_and_an_unknown_request_fails_it(self) -> None:
        quitting = SyncSession(VirtualFS.fresh())
        assert run(quitting, request(b"QUIT")) == b""
        assert quitting.closed
        confused = SyncSession(VirtualFS.fresh())
        assert run(confused, request(b"WHAT", b"x")).startswith(b"FAIL")
        assert confused.closed
