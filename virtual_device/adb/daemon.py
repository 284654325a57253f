"""adbd for one virtual device: TCP connections, the CNXN/AUTH handshake, and streams.

Follows AOSP adb/adb.cpp and adb_auth_client.cpp (android-7.1.2_r1; android-9.0.0_r1 for the
protocol version that drops checksums): the host's CNXN fixes the version and the largest
payload (the lower of each side's), a secure device answers with a 20-byte AUTH token, a
signature from an authorised key brings the device online, and an unknown public key waits
for the user to accept it on the phone (here `accept_new_keys`, or `approve_pending()`)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from virtual_device.adb.keys import HostKey, KeyFormatError
from virtual_device.adb.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_WRTE,
    AUTH_RSAPUBLICKEY,
    AUTH_SIGNATURE,
    AUTH_TOKEN,
    HEADER_SIZE,
    TOKEN_SIZE,
    VERSION_MIN,
    VERSION_SKIP_CHECKSUM,
    Message,
    ProtocolError,
    decode_header,
    encode,
    verify_payload,
)
from virtual_device.adb.streams import (
    RootStream,
    ShellStream,
    ShellV2Stream,
    Stream,
    SyncStream,
    UnrootStream,
)
from virtual_device.model import VirtualDevice

log = logging.getLogger("tabard.virtual_device.adb")
MAX_AUTH_FAILURES_BEFORE_DELAY = 10


def _service_stream(
    connection: Connection, service: str, local_id: int, remote_id: int
) -> Stream | None:
    """The stream for an OPEN'd service name, or None for one adbd would refuse."""
    if service.startswith("shell"):
        name, _, command = service.partition(":")
        args = name.split(",")[1:]
        v2 = "v2" in args and "shell_v2" in connection.daemon.device.profile.adb_features
        pty = "pty" in args or ("raw" not in args and not command)
        if v2:
            return ShellV2Stream(connection, local_id, remote_id, command, pty=pty)
        if "v2" in args:
            return None
        return ShellStream(connection, local_id, remote_id, command)
    if service.startswith("exec:"):
        return ShellStream(connection, local_id, remote_id, service[len("exec:") :] or "true")
    if service == "sync:":
        return SyncStream(connection, local_id, remote_id)
    if service == "root:":
        return RootStream(connection, local_id, remote_id)
    if service == "unroot:":
        return UnrootStream(connection, local_id, remote_id)
    return None


@dataclass(eq=False)
class Connection:
    daemon: AdbDaemon
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    version: int = VERSION_MIN
    max_payload: int = 4096
    state: str = "cnxn"  # cnxn, auth, pending (waiting for the user's tap), online
    token: bytes = b""
    failures: int = 0
    pending_key: HostKey | None = None
    streams: dict[int, Stream] = field(default_factory=dict)
    next_id: int = 1
    log: logging.Logger = log

    @property
    def device(self) -> VirtualDevice:
        return self.daemon.device

    @property
    def checksums(self) -> bool:
        return self.version < VERSION_SKIP_CHECKSUM

    async def send(self, message: Message) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(encode(message, with_checksum=self.checksums))
        await self.writer.drain()

    async def read_message(self) -> Message:
        header = decode_header(
            await self.reader.readexactly(HEADER_SIZE),
            max_payload=self.daemon.device.profile.adb_maxdata,
        )
        data = await self.reader.readexactly(header.length) if header.length else b""
        return verify_payload(header, data, with_checksum=self.checksums)

    async def run(self) -> None:
        peer = self.writer.get_extra_info("peername")
        try:
            while True:
                await self.handle(await self.read_message())
        except ProtocolError as error:
            log.info("dropping %s on %s: %s", peer, self.daemon.device.serial, error)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        self.daemon.connections.discard(self)
        self.daemon.update_key_waiting()
        for stream in list(self.streams.values()):
            stream.closed = True
            if stream.task is not None:
                stream.task.cancel()
        self.streams.clear()
        if not self.writer.is_closing():
            self.writer.close()

    # -- handshake -----------------------------------------------------------------------

    async def go_online(self) -> None:
        self.state = "online"
        device = self.daemon.device
        await self.send(Message(A_CNXN, self.version, self.max_payload, device.profile.banner))

    async def challenge(self) -> None:
        self.token = os.urandom(TOKEN_SIZE)
        await self.send(Message(A_AUTH, AUTH_TOKEN, 0, self.token))

    async def handle(self, message: Message) -> None:
        if message.command == A_CNXN:
            await self._connect(message)
        elif message.command == A_AUTH:
            await self._authenticate(message)
        elif self.state != "online":
            return  # adbd ignores traffic from a host that has not authenticated
        elif message.command == A_OPEN:
            await self._open(message)
        elif message.command == A_WRTE:
            stream = self.streams.get(message.arg1)
            if stream is None:
                await self.send(Message(A_CLSE, 0, message.arg0))
            else:
                stream.inbox.put_nowait(message.data)
        elif message.command == A_OKAY:
            stream = self.streams.get(message.arg1)
            if stream is not None:
                stream.okay()
        elif message.command == A_CLSE:
            stream = self.streams.get(message.arg1)
            if stream is not None:
                stream.inbox.put_nowait(None)
                await stream.close()

    async def _connect(self, message: Message) -> None:
        profile = self.daemon.device.profile
        if message.arg0 < VERSION_MIN:
            raise ProtocolError(f"host protocol version 0x{message.arg0:08x} is too old")
        self.version = min(profile.adb_version, message.arg0)
        self.max_payload = min(profile.adb_maxdata, message.arg1)
        if self.daemon.device.getprop("ro.adb.secure") == "1":
            self.state = "auth"
            await self.challenge()
        else:
            await self.go_online()

    async def _authenticate(self, message: Message) -> None:
        if self.state not in ("auth", "pending"):
            return
        if message.arg0 == AUTH_SIGNATURE:
            if any(key.verifies(self.token, message.data) for key in self.daemon.authorised()):
                await self.go_online()
                return
            self.failures += 1
            if self.failures > MAX_AUTH_FAILURES_BEFORE_DELAY:
                await asyncio.sleep(1)  # adbd slows down a host guessing at keys
            await self.challenge()
        elif message.arg0 == AUTH_RSAPUBLICKEY:
            try:
                key = HostKey.parse(message.data.decode("ascii", errors="replace"))
            except KeyFormatError as error:
                log.info("ignoring an unreadable public key: %s", error)
                return
            if self.daemon.accept_new_keys:
                self.daemon.authorise(key)
                await self.go_online()
            else:
                self.state = "pending"
                self.pending_key = key
                self.daemon.update_key_waiting()
                log.info(
                    "%s waits for the user to accept key %s",
                    self.daemon.device.serial,
                    key.comment or key.blob[:12],
                )

    async def _open(self, message: Message) -> None:
        if message.arg0 == 0 or message.arg1 != 0:
            return
        service = message.data.rstrip(b"\0").decode("utf-8", errors="replace")
        if self.daemon.cable_pulled_by(service):
            self.daemon.pull_cable()
            return
        local_id = self.next_id
        self.next_id += 1
        if service.startswith("reboot:"):
            await self.send(Message(A_OKAY, local_id, message.arg0))
            self.daemon.device.reboot()
            return
        stream = _service_stream(self, service, local_id, message.arg0)
        if stream is None:
            await self.send(Message(A_CLSE, 0, message.arg0))
            return
        self.streams[local_id] = stream
        await self.send(Message(A_OKAY, local_id, message.arg0))
        stream.start()


class AdbDaemon:
    """adbd for one device, listening on one TCP port."""

    def __init__(self, device: VirtualDevice, *, accept_new_keys: bool = False) -> None:
        self.device = device
        self.accept_new_keys = accept_new_keys
        self.connections: set[Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self.server: asyncio.base_events.Server | None = None
        self.address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keys: dict[str, HostKey] = {}
        self.key_waiting = asyncio.Event()  # set while an unknown key waits for the user
        # Fault injection for tests and training: the cable comes out as the Nth next service
        # opens (`unplug_after`), and stays out until `replug()`.
        self._services_until_unplug: int | None = None
        self.unplugged = False

    def authorised(self) -> list[HostKey]:
        """The keys in the device's adb_keys, parsed once each."""
        keys = []
        for line in list(self.device.adb_keys):
            blob = line.split(" ", 1)[0]
            if blob not in self._keys:
                try:
                    self._keys[blob] = HostKey.parse(line)
                except KeyFormatError:
                    continue
            keys.append(self._keys[blob])
        return keys

    def authorise(self, key: HostKey) -> None:
        with self.device.lock:
            if all(line.split(" ", 1)[0] != key.blob for line in self.device.adb_keys):
                self.device.adb_keys.append(key.line())

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._loop = asyncio.get_running_loop()
        self.server = await asyncio.start_server(self._accept, host, port)
        sockname = self.server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        self.device.subscribe(self._on_device_event)
        return self.address

    def unplug_after(self, services: int) -> None:
        """Pull the cable as the `services`-th next service (a shell command, a file push)
        is opened: it never runs, and every connection drops."""
        self._services_until_unplug = services

    def cable_pulled_by(self, service: str) -> bool:
        if self._services_until_unplug is None:
            return False
        self._services_until_unplug -= 1
        return self._services_until_unplug <= 0

    def pull_cable(self) -> None:
        self._services_until_unplug = None
        self.unplugged = True
        self._drop_all()

    def replug(self) -> None:
        """Put the cable back: the device accepts connections again."""
        self.unplugged = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.unplugged:
            writer.close()
            return
        if not self.device.adb_enabled:
            writer.close()  # USB debugging is off: adbd is not running
            return
        connection = Connection(self, reader, writer)
        self.connections.add(connection)
        current = asyncio.current_task()
        handler = {current} if current is not None else set()
        self._handlers |= handler
        try:
            await connection.run()
        finally:
            self._handlers -= handler

    def update_key_waiting(self) -> None:
        if any(connection.state == "pending" for connection in self.connections):
            self.key_waiting.set()
        else:
            self.key_waiting.clear()

    async def wait_for_key(self, timeout: float) -> None:
        """Until a host offers a key the device does not know (the prompt appears)."""
        await asyncio.wait_for(self.key_waiting.wait(), timeout)

    async def approve_pending(self) -> int:
        """The user taps "Allow": every key waiting for approval is authorised."""
        approved = 0
        for connection in list(self.connections):
            if connection.state == "pending" and connection.pending_key is not None:
                self.authorise(connection.pending_key)
                await connection.go_online()
                approved += 1
        self.update_key_waiting()
        return approved

    def _on_device_event(self, event: str) -> None:
        """A reboot or factory reset drops every connection, from whichever thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._drop_all)

    def _drop_all(self) -> None:
        for connection in list(self.connections):
            for stream in list(connection.streams.values()):
                if stream.task is not None:
                    stream.task.cancel()
            connection.writer.close()

    async def close(self) -> None:
        self.device.unsubscribe(self._on_device_event)
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            await connection.shutdown()
        # Each closed connection's handler ends on its own once its reader sees the end of the
        # stream; left pending, the loop would cancel it and Python 3.11's stream callback would
        # print the cancellation as an error.
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self.server is not None:
            await self.server.wait_closed()
