"""Agents enrolled against an in-process server, for the agent's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from device_agent.agent import Agent
from tests.agent.signal import Signal
from tests.agent.test_secure_side import Device, policy, run, setup_device
from tests.factories.secure import NEW_PIN, PIN
from tests.server.test_policies import apply, put_policy


@pytest.fixture
def offline_device(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> Device:
    return setup_device(app, client, admin_headers, tmp_path, offline_hours=8)


@pytest.fixture
def online_only_device(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> Device:
    return setup_device(app, client, admin_headers, tmp_path, offline_hours=0)


@pytest.fixture
def first_entry() -> Iterator[Any]:
    agents: list[Agent] = []

    def enter(device: Device) -> Agent:
        agent = device.agent()
        agents.append(agent)
        run(agent.check_in())
        run(agent.enter(collar=device.collar, pin=PIN, new_pin=NEW_PIN))
        return agent

    yield enter
    for agent in agents:
        agent.close()


@pytest.fixture
def reports_device(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> Device:
    device = setup_device(app, client, admin_headers, tmp_path, offline_hours=8)
    reports = policy(8)
    types = reports["appropriate_use"]["transaction_types"]
    types["incident_report"] = {"purposes": ["INVESTIGATION"]}
    types["witness_statement"] = {"purposes": ["INVESTIGATION"]}
    assert put_policy(client, admin_headers, reports).status_code < 300
    assert apply(client, admin_headers, "fleet", "shift").status_code == 200
    return device


@pytest.fixture
def signal(app: FastAPI) -> Signal:
    return Signal(app)
