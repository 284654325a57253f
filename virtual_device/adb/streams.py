"""The services a host can open on a virtual device: shell (v1 and v2), exec, sync, root and
reboot. Each runs as a task on its connection, with adbd's flow control: one WRTE in flight,
and the host's data acknowledged with OKAY once consumed (AOSP adb/protocol.txt)."""

from __future__ import annotations

import asyncio
import logging
import shlex
import struct
from typing import Protocol

from virtual_device.adb.protocol import A_CLSE, A_OKAY, A_WRTE, Message
from virtual_device.adb.sync import SyncSession
from virtual_device.model import VirtualDevice
from virtual_device.shell import Shell

# Shell protocol v2 packet ids (AOSP adb/shell_service.h, ShellProtocol).
ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW_SIZE = range(6)
V2_HEADER = struct.Struct("<BI")
ROOT_REFUSAL = b"adbd cannot run as root in production builds\n"


def v2_packet(packet_id: int, data: bytes) -> bytes:
    return V2_HEADER.pack(packet_id, len(data)) + data


class StreamHost(Protocol):
    """What a stream needs of the connection it runs on (virtual_device.adb.daemon's
    Connection): the device behind it, the payload size agreed in the handshake, the table of
    open streams, and a way to send."""

    @property
    def device(self) -> VirtualDevice: ...
    @property
    def max_payload(self) -> int: ...
    @property
    def streams(self) -> dict[int, Stream]: ...
    @property
    def log(self) -> logging.Logger: ...
    async def send(self, message: Message) -> None: ...


class Stream:
    """One open service on a connection."""

    def __init__(self, connection: StreamHost, local_id: int, remote_id: int) -> None:
        self.connection = connection
        self.local_id = local_id
        self.remote_id = remote_id
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._can_send = asyncio.Event()
        self._can_send.set()
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    @property
    def device(self) -> VirtualDevice:
        return self.connection.device

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._guarded())

    async def _guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.connection.log.exception("stream %d failed", self.local_id)
        await self.close()

    async def run(self) -> None:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        """Send `data` in WRTEs of at most the negotiated size, each after the host's OKAY."""
        limit = self.connection.max_payload
        for start in range(0, len(data), limit):
            await self._can_send.wait()
            if self.closed:
                return
            self._can_send.clear()
            await self.connection.send(
                Message(A_WRTE, self.local_id, self.remote_id, data[start : start + limit])
            )

    def okay(self) -> None:
        """The host acknowledged our last WRTE."""
        self._can_send.set()

    async def receive(self) -> bytes | None:
        """The host's next WRTE payload (None when the host closed the stream)."""
        return await self.inbox.get()

    async def acknowledge(self) -> None:
        await self.connection.send(Message(A_OKAY, self.local_id, self.remote_id))

    async def close(self) -> None:
        """End the stream with a CLSE: when the service finishes, or in answer to the host's
        own CLSE (adb-shell waits for that answer after ending a sync session)."""
        if self.closed:
            return
        self.closed = True
        self._can_send.set()
        self.connection.streams.pop(self.local_id, None)
        await self.connection.send(Message(A_CLSE, self.local_id, self.remote_id))
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def drain_input(self) -> None:
        """Acknowledge and discard whatever the host sends (a command that reads no stdin)."""
        while await self.receive() is not None:
            await self.acknowledge()


MAX_STREAMED_APK = 1024**3


def streamed_input_size(command: str) -> int | None:
    """How many bytes of stdin a command reads before it runs: `cmd package install -S SIZE`
    (or `pm install -S SIZE`), with no file after it, is an APK streamed in by `adb install` (AOSP
    adb/client/adb_install.cpp, install_app_streamed); every other command reads none."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:3] != ["cmd", "package", "install"] and words[:2] != ["pm", "install"]:
        return None
    # adb puts `-S SIZE` last; anything after it would be a file to install instead.
    if len(words) < 4 or words[-2] != "-S" or not words[-1].isdigit():
        return None
    size = int(words[-1])
    return size if size <= MAX_STREAMED_APK else None


async def read_input(stream: Stream, size: int, *, v2: bool) -> bytes:
    """Up to `size` bytes the host sends (raw, or shell v2 stdin packets), acknowledging each
    packet; less if the host ends its input first."""
    received, buffered = bytearray(), b""
    while len(received) < size:
        data = await stream.receive()
        if data is None:
            break
        await stream.acknowledge()
        if not v2:
            received += data
            continue
        buffered += data
        while len(buffered) >= V2_HEADER.size:
            packet_id, length = V2_HEADER.unpack_from(buffered)
            if len(buffered) < V2_HEADER.size + length:
                break
            if packet_id == ID_STDIN:
                received += buffered[V2_HEADER.size : V2_HEADER.size + length]
            elif packet_id == ID_CLOSE_STDIN:
                return bytes(received)
            buffered = buffered[V2_HEADER.size + length :]
    return bytes(received)


class ShellStream(Stream):
    """`shell:` (v1) and `exec:`: raw bytes, stderr merged into stdout, no exit status. With
    no command, an interactive session on a pseudo-terminal."""

    def __init__(self, connection: StreamHost, local_id: int, remote_id: int, command: str) -> None:
        super().__init__(connection, local_id, remote_id)
        self.command = command

    async def run(self) -> None:
        shell = Shell(self.device)
        if self.command:
            size = streamed_input_size(self.command)
            stdin = await read_input(self, size, v2=False) if size else b""
            drain = asyncio.get_running_loop().create_task(self.drain_input())
            result = shell.run(self.command, stdin)
            await self.write(result.merged)
            drain.cancel()
            return
        await interactive(self, shell, lambda data: self.write(data), v2=False, pty=True)


class ShellV2Stream(Stream):
    """`shell,v2,raw:` and `shell,v2,pty:`: stdout, stderr and the exit status on their own
    channels (AOSP adb/shell_service.cpp, ShellProtocol)."""

    def __init__(
        self, connection: StreamHost, local_id: int, remote_id: int, command: str, pty: bool
    ) -> None:
        super().__init__(connection, local_id, remote_id)
        self.command = command
        self.pty = pty

    async def run(self) -> None:
        shell = Shell(self.device)
        if self.command:
            size = streamed_input_size(self.command)
            stdin = await read_input(self, size, v2=True) if size else b""
            drain = asyncio.get_running_loop().create_task(self.drain_input())
            result = shell.run(self.command, stdin)
            framed = b"".join(
                v2_packet(
                    ID_STDOUT if fd == 1 or self.pty else ID_STDERR,
                    data.replace(b"\n", b"\r\n") if self.pty else data,
                )
                for fd, data in result.chunks
            )
            await self.write(framed + v2_packet(ID_EXIT, bytes([result.exit_code & 0xFF])))
            drain.cancel()
            return
        status = await interactive(
            self,
            shell,
            lambda data: self.write(v2_packet(ID_STDOUT, data)),
            v2=True,
            pty=self.pty,
        )
        await self.write(v2_packet(ID_EXIT, bytes([status & 0xFF])))


async def interactive(stream: Stream, shell: Shell, send, *, v2: bool, pty: bool) -> int:  # type: ignore[no-untyped-def]
    """`sh` reading commands from the host, a line at a time, until `exit` or end of input.
    On a pseudo-terminal it prompts, echoes and ends lines with CR LF; without one (adb with
    stdin redirected) it does none of that, as mksh does when stdin is not a terminal."""
    prompt = f"{stream.device.device_name}:/ $ ".encode() if pty else b""
    newline = b"\r\n" if pty else b"\n"
    if prompt:
        await send(prompt)
    pending = b""
    buffered = b""
    while True:
        data = await stream.receive()
        if data is None:
            return shell.status
        await stream.acknowledge()
        end_of_input = False
        if v2:
            buffered += data
            chunks = []
            while len(buffered) >= V2_HEADER.size:
                packet_id, length = V2_HEADER.unpack_from(buffered)
                if len(buffered) < V2_HEADER.size + length:
                    break
                payload = buffered[V2_HEADER.size : V2_HEADER.size + length]
                buffered = buffered[V2_HEADER.size + length :]
                if packet_id == ID_CLOSE_STDIN:
                    end_of_input = True
                elif packet_id == ID_STDIN:
                    chunks.append(payload)
            data = b"".join(chunks)
        if pty and data:
            await send(data.replace(b"\r", b"\r\n"))
        pending += data.replace(b"\r", b"\n")
        if end_of_input and pending and not pending.endswith(b"\n"):
            pending += b"\n"
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            text = line.decode(errors="replace").strip()
            if text in ("exit", "logout"):
                return shell.status
            if text:
                output = shell.run(text).merged
                await send(output.replace(b"\n", newline) if pty else output)
            if prompt:
                await send(prompt)
        if end_of_input:
            return shell.status


class SyncStream(Stream):
    """`sync:`: file transfer."""

    async def run(self) -> None:
        session = SyncSession(self.device.fs)
        while True:
            data = await self.receive()
            if data is None:
                return
            with self.device.lock:
                responses = session.feed(data)
            await self.acknowledge()
            if responses:
                await self.write(b"".join(responses))
            if session.closed:
                return


class RootStream(Stream):
    """`root:` on a user build: refused, as adbd does."""

    async def run(self) -> None:
        await self.write(ROOT_REFUSAL)


class UnrootStream(Stream):
    async def run(self) -> None:
        await self.write(b"adbd not running as root\n")
