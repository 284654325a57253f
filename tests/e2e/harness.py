"""Running Tabard for real: `tabard` CLI subprocesses and a `tabard serve` on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from mdm_server.auth import factors
from tests.support import wait_for

START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Phone:
    """An authenticator app: codes from its secret, each time step used once, and then the
    recovery codes (so that logins in quick succession never wait for the next step)."""

    secret: str
    recovery_codes: list[str] = field(default_factory=list)
    last_step: int = -1

    def code(self) -> str:
        current = int(time.time()) // factors.STEP_S
        # From the current step on: an earlier one leaves the server's window at the next
        # tick, and a CLI that starts slowly on a busy machine can arrive after it.
        for step in range(current, current + factors.DRIFT_STEPS + 1):
            if step > self.last_step:
                self.last_step = step
                return str(pyotp.TOTP(self.secret).generate_otp(step))
        return self.recovery_codes.pop()


@dataclass
class Tabard:
    """Runs `tabard` commands with one environment (data dir, config dir, database)."""

    root: Path
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    server_pid: int | None = None  # while `serving`
    server: subprocess.Popen[str] | None = None  # while `serving`, to stop it some other way
    phones: dict[str, Phone] = field(default_factory=dict)  # by username, once enrolled

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

    def login(self, username: str, password: str, *, enrol: bool = True) -> None:
        """`tabard login`, with a code from the account's phone once it has a factor; an
        account that must have one (IT, auditors) sets one up at its first login unless not
        `enrol`, as a person would with `tabard mfa enrol`."""
        phone = self.phones.get(username)
        code = ["--code", phone.code()] if phone else []
        args = ("login", "--server", self.url, "--username", username, "--password-stdin")
        signed_in = json.loads(self.run(*args, *code, "--json", stdin=password + "\n").stdout)
        if enrol and signed_in["second_factor_enrolment_required"]:
            self.enrol_factor(username)

    def enrol_factor(self, username: str) -> Phone:
        """Set up a second factor for the account logged in, through the CLI."""
        started = json.loads(self.run("mfa", "enrol", "--json").stdout)
        phone = Phone(started["secret"])
        confirmed = self.run("mfa", "confirm", "--code", phone.code(), "--json").stdout
        phone.recovery_codes = json.loads(confirmed)["recovery_codes"]
        self.phones[username] = phone
        return phone

    def _accepts(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

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
                # uvicorn says this once the socket listens; "Application startup complete"
                # comes before the bind, and a request sent on it can be refused.
                if "Uvicorn running on" in line:
                    started.set()
            started.set()  # the process ended; let the waiter look at why

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            if not started.wait(START_TIMEOUT_S) or process.poll() is not None:
                raise AssertionError("tabard serve did not start:\n" + "".join(lines))
            # With several workers the line comes from the supervisor once it has bound the
            # socket; the workers listen on it a moment later.
            wait_for(lambda: self._accepts() or process.poll() is not None, "the port to listen")
            if process.poll() is not None:
                raise AssertionError("tabard serve stopped:\n" + "".join(lines))
            yield lines
        finally:
            process.terminate()
            process.wait(timeout=30)
            reader.join(timeout=10)
