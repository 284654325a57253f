"""Real daemons the end-to-end tests talk to (a syslog collector, a load balancer): each run in
the foreground on a loopback port of its own, started and stopped as often as a test likes."""

from __future__ import annotations

import signal
import socket
import subprocess

from tests.e2e.harness import free_port
from tests.support import wait_for


class ForegroundDaemon:
    """`start()` runs `command()` until `stop()`; the port stays the same."""

    name = "the daemon"

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_for(lambda: self.listening() or self.process.poll() is not None, self.name)
        if self.process.poll() is not None:
            stderr = self.process.stderr.read().decode() if self.process.stderr else ""
            raise AssertionError(f"{self.name} did not start:\n{stderr}")

    def listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None
