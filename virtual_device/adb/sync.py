"""The `sync:` service: file transfer as adbd serves it (AOSP adb/SYNC.TXT and
daemon/file_sync_service.cpp). Pure: bytes in, bytes out, against a `VirtualFS`.

Requests arrive as a byte stream that the host packs into WRTE payloads however it likes
(adb-shell sends SEND, DATA and DONE together), so the session reassembles them."""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass, field

from virtual_device.fs import MESSAGES, FsError, Node, VirtualFS

REQUEST = struct.Struct("<4sI")
STAT_V1 = struct.Struct("<4sIII")
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V1 = struct.Struct("<4sIIII")
SYNC_DATA_MAX = 64 * 1024
PATH_MAX = 1024
# The fixed device and inode numbers a stat reports; the host only looks at mode and size.
_DEVICE = 0xFD00


def _fail(message: str) -> bytes:
    data = message.encode()
    return REQUEST.pack(b"FAIL", len(data)) + data


def _errno_message(prefix: str, error: FsError) -> str:
    return f"{prefix}: {MESSAGES.get(error.code, str(error))}"


@dataclass
class _Send:
    path: str
    mode: int
    chunks: list[bytes] = field(default_factory=list)
    failure: str | None = None


class SyncSession:
    """One `sync:` stream. `feed()` returns the bytes to send back; `closed` turns true when
    adbd would end the service (QUIT, or a failure it cannot recover from)."""

    def __init__(self, fs: VirtualFS) -> None:
        self.fs = fs
        self._buffer = bytearray()
        self._send: _Send | None = None
        self.closed = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer.extend(data)
        out: list[bytes] = []
        while not self.closed and len(self._buffer) >= REQUEST.size:
            ident, length = REQUEST.unpack_from(self._buffer)
            if self._send is None and ident not in (b"DATA", b"DONE") and length > PATH_MAX:
                out.append(_fail("path too long"))
                self.closed = True
                break
            if ident == b"DONE":
                del self._buffer[: REQUEST.size]
                out.extend(self._finish_send(mtime=length))
                continue
            if ident == b"DATA" and length > SYNC_DATA_MAX:
                out.append(_fail("oversize data message"))
                self.closed = True
                break
            if len(self._buffer) < REQUEST.size + length:
                break
            payload = bytes(self._buffer[REQUEST.size : REQUEST.size + length])
            del self._buffer[: REQUEST.size + length]
            out.extend(self._handle(ident, payload))
        return out

    def _handle(self, ident: bytes, payload: bytes) -> list[bytes]:
        if ident == b"DATA":
            if self._send is None:
                self.closed = True
                return [_fail("invalid data message")]
            self._send.chunks.append(payload)
            return []
        if self._send is not None:
            self.closed = True
            return [_fail("invalid data message: expected ID_DONE")]
        path = payload.decode("utf-8", errors="surrogateescape")
        handlers = {
            b"STAT": self._stat_v1,
            b"STA2": lambda p: self._stat_v2(p, b"STA2", follow=True),
            b"LST2": lambda p: self._stat_v2(p, b"LST2", follow=False),
            b"LIST": self._list,
            b"RECV": self._recv,
            b"SEND": self._begin_send,
        }
        if ident == b"QUIT":
            self.closed = True
            return []
        handler = handlers.get(ident)
        if handler is None:
            self.closed = True
            return [_fail(f"unknown command {ident!r}")]
        return handler(path)

    # -- requests ------------------------------------------------------------------------

    def _stat_v1(self, path: str) -> list[bytes]:
        """lstat: mode, size and mtime, or all zeros when the path does not exist."""
        try:
            node = self.fs.lookup(path, follow=False)
        except FsError:
            return [STAT_V1.pack(b"STAT", 0, 0, 0)]
        return [STAT_V1.pack(b"STAT", node.mode, node.size & 0xFFFFFFFF, node.mtime)]

    def _stat_v2(self, path: str, ident: bytes, *, follow: bool) -> list[bytes]:
        try:
            node = self.fs.lookup(path, follow=follow)
        except FsError as error:
            return [STAT_V2.pack(ident, error.code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
        return [
            STAT_V2.pack(
                ident,
                0,
                _DEVICE,
                hash(path) & 0xFFFFFFFF,
                node.mode,
                1,
                node.uid,
                node.gid,
                node.size,
                node.mtime,
                node.mtime,
                node.mtime,
            )
        ]

    def _list(self, path: str) -> list[bytes]:
        out: list[bytes] = []
        try:
            here = self.fs.lookup(path)
            entries: list[tuple[str, Node]] = [(".", here)]
            parent_path = path.rstrip("/").rsplit("/", 1)[0] or "/"
            entries.append(("..", self.fs.lookup(parent_path)))
            entries.extend(self.fs.listdir(path))
        except FsError:
            entries = []
        for name, node in entries:
            encoded = name.encode()
            out.append(
                DENT_V1.pack(b"DENT", node.mode, node.size & 0xFFFFFFFF, node.mtime, len(encoded))
                + encoded
            )
        out.append(DENT_V1.pack(b"DONE", 0, 0, 0, 0))
        return out

    def _recv(self, path: str) -> list[bytes]:
        try:
            data = self.fs.read(path)
        except FsError as error:
            self.closed = True
            prefix = "read failed" if error.code == 21 else "open failed"
            return [_fail(_errno_message(prefix, error))]
        out = [
            REQUEST.pack(b"DATA", len(chunk)) + chunk
            for chunk in (data[i : i + SYNC_DATA_MAX] for i in range(0, len(data), SYNC_DATA_MAX))
        ]
        out.append(REQUEST.pack(b"DONE", 0))
        return out

    def _begin_send(self, spec: str) -> list[bytes]:
        path, comma, mode_text = spec.rpartition(",")
        if not comma:
            self.closed = True
            return [_fail("missing , in ID_SEND")]
        try:
            mode = int(mode_text, 0)
        except ValueError:
            mode = 0
        self._send = _Send(path=path, mode=mode)
        return []

    def _finish_send(self, *, mtime: int) -> list[bytes]:
        send, self._send = self._send, None
        if send is None:
            self.closed = True
            return [_fail("invalid data message: unexpected ID_DONE")]
        data = b"".join(send.chunks)
        try:
            if stat.S_ISLNK(send.mode):
                self.fs.symlink(send.path, data.decode("utf-8", errors="replace"), mtime=mtime)
            else:
                self.fs.write(send.path, data, mode=send.mode, mtime=mtime)
        except FsError as error:
            self.closed = True
            return [_fail(_errno_message("couldn't create file", error))]
        return [REQUEST.pack(b"OKAY", 0)]
