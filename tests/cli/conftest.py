"""A Tabard server on a real socket for the CLI's tests: `create_app` over a database of its
own (committed, on each backend) served by uvicorn on a free port, and the `tabard` CLI run
in process against it with a staff session of its own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import Result
from fastapi import FastAPI
from typer.testing import CliRunner

from mdm_server.auth.models import StaffUser
from mdm_server.db import Database
from mdm_server.main import create_app
from tabard.cli import app as cli
from tests.conftest import FakeClock, make_settings
from tests.e2e.harness import free_port
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import AUTHENTICATORS, PASSWORD, create_staff, second_factor_code
from tests.support import wait_for

# Signs of Python (a repr, an API location) in words meant for people, and of a validation
# dump where a plain message belongs.
REPR_MARKS = ("['", "{'", "'}", "']", "path.", "body.", "query.")
VALIDATION_DUMP = ("Input should", "UUID", "[{")


def row_of(output: str, text: str) -> str:
    """The one line of `output` holding `text` (a table row printed whole)."""
    (row,) = [line for line in output.splitlines() if text in line]
    return row


def cells(row: str) -> list[str]:
    """A table row's cells, stripped."""
    return [cell.strip() for cell in row.replace("┃", "│").split("│")[1:-1]]


@dataclass
class Live:
    """The server, its URL and a CLI runner logged in as whoever `login` last made."""

    app: FastAPI
    url: str
    runner: CliRunner
    clock: FakeClock

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def enrol(self, **facts: Any) -> SimulatedDevice:
        """A device enrolled over the device protocol, with a token IT made through the CLI."""
        token = json.loads(self.ok("tokens", "create", "--group", "response", "--json").stdout)
        device = SimulatedDevice(**facts)
        with self.http() as http:
            response = device.enrol(http, token["token"])  # type: ignore[arg-type]
        assert response.status_code == 201, response.text
        return device

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run a command with `--json` that must succeed; what it printed."""
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def login(self, role: str, **staff: Any) -> StaffUser:
        """A new account with this role, logged in through `tabard login`."""
        user = create_staff(self.app, role=role, **staff)
        self.login_as(user)
        return user

    def login_as(self, user: StaffUser) -> None:
        """`tabard login` as `user`, with the code its phone shows when it has a factor."""
        code = ["--code", second_factor_code(self.app, user)] if user.id in AUTHENTICATORS else []
        result = self.tabard(
            "login",
            "--server",
            self.url,
            "--username",
            user.username,
            "--password-stdin",
            *code,
            input=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output

    def tabard(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run a command that must succeed."""
        result = self.tabard(*args, input=input)
        assert result.exit_code == 0, f"tabard {' '.join(args)}\n{result.output}"
        return result

    def refused(self, *args: str, input: str | None = None) -> str:
        """Run a command that must fail with exit status 1; what it said on stderr."""
        result = self.tabard(*args, input=input)
        assert result.exit_code == 1, f"tabard {' '.join(args)}\n{result.output}"
        assert result.stdout == "", result.stdout
        return " ".join(result.stderr.split())


@pytest.fixture
def live_settings() -> dict[str, object]:
    """Settings the live server runs with beyond the tests' defaults; a module may override."""
    return {}


@pytest.fixture
def live(
    committed_database: Database,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    live_settings: dict[str, object],
) -> Iterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(
        make_settings(tmp_path / "data", public_url=url, access_log=False, **live_settings),
        database=committed_database,
        clock=clock,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the server to start")
    assert server.started, "the server did not start"
    monkeypatch.setenv("TABARD_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("COLUMNS", raising=False)
    try:
        yield Live(app=app, url=url, runner=CliRunner(), clock=clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
