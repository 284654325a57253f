"""Provisioning against virtual devices: the agent and police app APKs, the baseline policy,
and a runner wired to a `DeviceHost`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from device_agent.adb import AdbConnection
from device_agent.handover import AGENT_PACKAGE
from provisioning.facts import Shell
from provisioning.plan import Options
from provisioning.runner import DeviceResult, provision
from provisioning.steps import Inputs
from virtual_device.apk import build_apk
from virtual_device.host import RunningDevice
from virtual_device.scenarios import POLICE_APPS

ROOT = Path(__file__).resolve().parents[2]
PROFILES = [("SM-J510FN", None), ("SM-J530F", None), ("SM-J530F", "9"), ("SM-T580", None)]
PAYLOAD = json.dumps({"server": "http://127.0.0.1:9", "token": "t" * 32, "ca_sha256": "ab" * 32})
BLOCKED = "com.sec.android.gallery3d"


def agent_apk() -> bytes:
    return build_apk(AGENT_PACKAGE, version_code=3, admin_receivers=(".Admin",))


def police_apks() -> dict[str, bytes]:
    return {package: build_apk(package) for package in POLICE_APPS}


def baseline_policy() -> dict[str, Any]:
    """The example fleet baseline, blocking one personal-side app as a force might."""
    policy: dict[str, Any] = yaml.safe_load(
        (ROOT / "examples" / "policies" / "fleet-baseline.yaml").read_text()
    )
    policy["personal_side"]["blocked_apps"] = [BLOCKED]
    return policy


def write_inputs(directory: Path) -> dict[str, Path]:
    """The files `tabard provision` takes: agent APK, apps directory, policy."""
    directory.mkdir(parents=True, exist_ok=True)
    apk = directory / "tabard-agent.apk"
    apk.write_bytes(agent_apk())
    apps = directory / "apps"
    apps.mkdir(exist_ok=True)
    for package, data in police_apks().items():
        (apps / f"{package}.apk").write_bytes(data)
    policy = directory / "policy.yaml"
    policy.write_text(yaml.safe_dump(baseline_policy()))
    return {"apk": apk, "apps": apps, "policy": policy}


def inputs(payload: str = PAYLOAD, *, no_agent: bool = False, no_apps: bool = False) -> Inputs:
    return Inputs(
        payload=payload,
        agent_apk=None if no_agent else agent_apk(),
        app_apks={} if no_apps else police_apks(),
    )


def options(**changes: Any) -> Options:
    given = {"apk": True, "app_files": frozenset(POLICE_APPS), "policy": baseline_policy()}
    return Options(**{**given, **changes})


def connector(running: RunningDevice, signer: PythonRSASigner, *, auth_timeout_s: float = 10):
    @contextmanager
    def connect() -> Iterator[Shell]:
        with AdbConnection(
            running.host, running.port, signer, auth_timeout_s=auth_timeout_s
        ) as connection:
            yield connection

    return connect


def run(
    running: RunningDevice,
    signer: PythonRSASigner,
    *,
    dry_run: bool = False,
    auth_timeout_s: float = 10,
    payload: str = PAYLOAD,
    no_agent: bool = False,
    no_apps: bool = False,
    **option_changes: Any,
) -> DeviceResult:
    return provision(
        DeviceResult(key=running.address),
        connect=connector(running, signer, auth_timeout_s=auth_timeout_s),
        inputs=inputs(payload, no_agent=no_agent, no_apps=no_apps),
        options=options(
            **{
                "apk": not no_agent,
                **({"app_files": frozenset()} if no_apps else {}),
                **option_changes,
            }
        ),
        dry_run=dry_run,
    )
