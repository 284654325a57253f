"""Running virtual devices in this process: their adbds on an asyncio loop in a background
thread, for tests, the `tabard virtual-device` command and the agent's virtual platform.
The same `VirtualDevice` objects stay reachable in process while ADB clients drive them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from virtual_device.adb.daemon import AdbDaemon
from virtual_device.model import VirtualDevice

T = TypeVar("T")


@dataclass(frozen=True)
class RunningDevice:
    device: VirtualDevice
    daemon: AdbDaemon
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class DeviceHost:
    """Owns a background event loop and the adbds running on it."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.devices: list[RunningDevice] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="virtual-adbd", daemon=True
        )
        self._started = False

    def __enter__(self) -> DeviceHost:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self._started:
            self._thread.start()
            self._started = True

    def call(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = 30) -> T:
        """Run a coroutine on the host's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def add(
        self, device: VirtualDevice, *, port: int = 0, accept_new_keys: bool = False
    ) -> RunningDevice:
        """Start adbd for `device` on `port` (0: any free port)."""
        self.start()
        daemon = AdbDaemon(device, accept_new_keys=accept_new_keys)
        host, bound = self.call(daemon.start(self.host, port))
        running = RunningDevice(device=device, daemon=daemon, host=host, port=bound)
        self.devices.append(running)
        return running

    def wait_for_key(self, running: RunningDevice, *, timeout: float = 30) -> None:
        """Until a host offers `running` a key it does not know."""
        self.call(running.daemon.wait_for_key(timeout), timeout=timeout + 1)

    def approve_pending(self, running: RunningDevice) -> int:
        """Tap "Allow" on the device's USB debugging prompt."""
        return self.call(running.daemon.approve_pending())

    def unplug_after(self, running: RunningDevice, services: int) -> None:
        """Pull the cable as the device's `services`-th next ADB service opens."""
        self.call(_on_loop(running.daemon.unplug_after, services))

    def replug(self, running: RunningDevice) -> None:
        self.call(_on_loop(running.daemon.replug))

    def remove(self, running: RunningDevice) -> None:
        self.call(running.daemon.close())
        self.devices.remove(running)

    def stop(self) -> None:
        if not self._started:
            return
        for running in list(self.devices):
            self.remove(running)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._started = False


async def _on_loop(function: Any, *args: Any) -> Any:
    """Run a plain function on the host's loop (the daemon's state belongs to it)."""
    return function(*args)
