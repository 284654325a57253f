"""`tabard provision` for real: the CLI against virtual devices on TCP and a running server.
Every profile ends managed, as the real adb client reads it back, then enrols and checks in;
a batch of fifty with eight at a time reports every device, and a second run changes nothing.
Each run and step is on the server's audit record under the IT user."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from device_agent.enrolment import enrol
from device_agent.payload import EnrolmentPayload
from device_agent.platform.virtual import VirtualPlatform
from device_agent.state import AgentState
from tests.e2e.agents import audit_trail
from tests.e2e.harness import Tabard
from tests.factories.adb import adb_server, needs_real_adb
from tests.factories.provisioning import BLOCKED, PROFILES, write_inputs
from virtual_device import VirtualDevice
from virtual_device.host import DeviceHost, RunningDevice
from virtual_device.scenarios import POLICE_APPS

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
AGENT = "uk.police.tabard.agent"


def installed(tabard: Tabard, uses: int) -> Path:
    """A running install's enrolment token, as `tokens create --json` printed it."""
    token = tabard.root / "token.json"
    token.write_text(
        tabard.run("tokens", "create", "--group", "response", "--uses", str(uses), "--json").stdout
    )
    return token


def provision(tabard: Tabard, *args: str, check: bool = True) -> Any:
    files = write_inputs(tabard.root / "inputs")
    result = tabard.run(
        "provision",
        *args,
        "--apk",
        str(files["apk"]),
        "--apps",
        str(files["apps"]),
        "--policy",
        str(files["policy"]),
        "--json",
        check=check,
    )
    return json.loads(result.stdout) if result.stdout.strip() else result


def read_back(adb: Any, running: RunningDevice) -> dict[str, str]:
    """What an ordinary adb client sees on the device."""
    adb.connected(running)
    shell = lambda command: adb.on(running, "shell", command).stdout  # noqa: E731
    return {
        "owners": shell("dumpsys device_policy"),
        "users": shell("pm list users"),
        "work": shell("pm list packages --user 10"),
        "disabled": shell("pm list packages -d --user 0"),
        "verifier": shell("settings get global package_verifier_enable").strip(),
    }


@needs_real_adb
def test_every_profile_ends_managed_read_back_by_adb_then_enrols_and_checks_in(
    tabard: Tabard, host: DeviceHost
) -> None:
    tabard.bootstrap("admin", PASSWORD)
    devices = [
        host.add(VirtualDevice.create(model, android=android, seed=i), accept_new_keys=True)
        for i, (model, android) in enumerate(PROFILES)
    ]
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        token = installed(tabard, uses=len(devices))
        results = [
            provision(
                tabard,
                *("--target", d.address, "--payload", str(token)),
                *("--officer", f"C{i}", "--group", "response"),
            )
            for i, d in enumerate(devices)
        ]
        with adb_server(tabard.root) as adb:
            seen = [read_back(adb, running) for running in devices]
        enrolled = []
        for running in devices:
            platform = VirtualPlatform(running.device)
            handed = platform.handed_over()
            assert handed is not None and handed.officer is not None
            state = AgentState(tabard.root / f"agent-{running.device.serial}")
            record = asyncio.run(
                enrol(EnrolmentPayload.parse(handed.payload), state=state, platform=platform)
            )
            tabard.run("agent", "--state", str(state.directory), "checkin", "--json")
            enrolled.append(
                json.loads(tabard.run("devices", "show", str(record.device_id), "--json").stdout)
            )
        trail = audit_trail(tabard)

    for running, result, adb_saw, shown in zip(devices, results, seen, enrolled, strict=True):
        (device,) = result["devices"]
        android_8 = running.device.sdk >= 26
        assert device["status"] == "provisioned", device["message"]
        assert device["mode"] == ("device_owner_work_profile" if android_8 else "profile_owner")
        assert ("Device Owner:" in adb_saw["owners"]) is android_8
        assert f"Profile Owner (User 10): \n    admin=ComponentInfo{{{AGENT}/" in adb_saw["owners"]
        assert "UserInfo{10:Tabard secure side:30} running" in adb_saw["users"]
        assert all(f"package:{app}" in adb_saw["work"] for app in [AGENT, *POLICE_APPS])
        assert f"package:{BLOCKED}" in adb_saw["disabled"]
        assert adb_saw["verifier"] == "1"
        assert shown["serial"] == running.device.serial and shown["state"] == "active"
        assert shown["last_seen_at"] is not None and shown["group"] == "response"
    steps = [e for e in trail if e.action == "provisioning.step"]
    assert {e.target_id for e in steps} == {running.device.serial for running in devices}
    assert {e.actor_name for e in steps} == {"admin"} and {e.actor_type for e in steps} == {"staff"}
    assert len([e for e in trail if e.action == "provisioning.run_started"]) == len(devices)
    assert not any(json.loads(token.read_text())["token"] in str(e.detail) for e in trail)


def test_fifty_devices_eight_at_a_time_then_a_second_run_changes_nothing(
    tabard: Tabard, host: DeviceHost
) -> None:
    tabard.bootstrap("admin", PASSWORD)
    models = [PROFILES[i % len(PROFILES)] for i in range(50)]
    devices = [
        host.add(VirtualDevice.create(m, android=a, seed=100 + i), accept_new_keys=True)
        for i, (m, a) in enumerate(models)
    ]
    manifest = tabard.root / "devices.csv"
    manifest.write_text(
        "target,officer,group,expected_model\n"
        + "".join(
            f"{d.address},C{1000 + i},response,{d.device.getprop('ro.product.model')}\n"
            for i, d in enumerate(devices)
        )
    )
    report = tabard.root / "report.json"
    batch = ("--manifest", str(manifest), "--parallel", "8", "--report", str(report))
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        token = installed(tabard, uses=50)
        first = provision(tabard, *batch, "--payload", str(token))
        saved = json.loads(report.read_text())
        before = [d.device.to_dict() for d in devices]
        second = provision(tabard, *batch, "--payload", str(token))
        after = [d.device.to_dict() for d in devices]
        trail = audit_trail(tabard)

    assert first["summary"] == {"devices": 50, "provisioned": 50}
    assert [d["key"] for d in saved["devices"]] == [d.address for d in devices]
    assert all(d["status"] == "provisioned" and d["serial"] for d in saved["devices"])
    rows = (tabard.root / "report.csv").read_text().splitlines()
    assert len(rows) == 51 and all(",provisioned," in row for row in rows[1:])
    assert second["summary"] == first["summary"]
    assert json.loads(report.read_text())["devices"] == saved["devices"]
    assert after == before, "the second run touched a device"
    finished = [e for e in trail if e.action == "provisioning.device_finished"]
    assert len(finished) == 50  # the second run skipped every device, so none again
    runs = [e.detail for e in trail if e.action == "provisioning.run_finished"]
    assert [run["outcome"] for run in runs] == ["complete", "complete"]
