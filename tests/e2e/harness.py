"""Running Tabard for real: `tabard` CLI subprocesses and a `tabard serve` on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Tabard:
    """Runs `tabard` commands with one environment (data dir, config dir, database)."""

    root: Path
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    server_pid: int | None = None  # while `serving`
    server: subprocess.Popen[str] | None = None  # while `serving`, to stop it some other way

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TABARD_")}
        env.update(
            TABARD_DATA_DIR=str(self.root / "data"),
            TABARD_CONFIG_DIR=str(self.root / "config"),
            TABARD_PUBLIC_URL=self.url,
            TABARD_ARGON2_MEMORY_KIB="8192",
            TABARD_ARGON2_TIME_COST="1",
            TABARD_LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        if self.database_url:
            env["TABARD_DATABASE_URL"] = self.database_url
        return env

    def run(
        self, *args: str, stdin: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "tabard", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            output = f"{result.stdout}\n{result.stderr}"
            raise AssertionError(f"tabard {command} exited {result.returncode}\n{output}")
        return result

    def bootstrap(self, username: str, password: str) -> None:
        """A fresh install: migrate, and create the first administrator with this password."""
        self.run("db", "upgrade")
        self.run(
            "admin", "create", "--username", username, "--password-stdin", stdin=password + "\n"
        )

    def login(self, username: str, password: str) -> None:
        self.run(
            "login",
            "--server",
            self.url,
            "--username",
            username,
            "--password-stdin",
            stdin=password + "\n",
        )

    @contextmanager
    def serving(self, *serve_args: str) -> Iterator[list[str]]:
        """`tabard serve` until the block ends; yields its log lines as they arrive."""
        process = subprocess.Popen(
            [sys.executable, "-m", "tabard", "serve", "--port", str(self.port), *serve_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
        )
        self.server_pid = process.pid
        self.server = process
        lines: list[str] = []
        started = threading.Event()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if "Application startup complete" in line:
                    started.set()
            started.set()  # the process ended; let the waiter look at why

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            if not started.wait(START_TIMEOUT_S) or process.poll() is not None:
                raise AssertionError("tabard serve did not start:\n" + "".join(lines))
            yield lines
        finally:
            process.terminate()
            process.wait(timeout=30)
            reader.join(timeout=10)
