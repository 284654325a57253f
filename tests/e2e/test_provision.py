"""`tabard provision` for real: the CLI against virtual devices on TCP and a running server.
A manifest with officers ends with each device enrolled, assigned and checked in; what would
stop a run stops it before any device changes, and a dry run stops where the real run would;
a resumed run says what it skipped; a phone's own agent is waited for. Every run and step is
on the server's audit record under the IT user."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from device_agent.checkin import check_in
from device_agent.enrolment import enrol
from device_agent.payload import EnrolmentPayload
from device_agent.platform.virtual import VirtualPlatform
from device_agent.state import AgentState
from tabard.output import when
from tests.e2e.agents import audit_trail
from tests.e2e.harness import Tabard
from tests.factories.adb import adb_server, needs_real_adb
from tests.factories.provisioning import BLOCKED, PROFILES, write_inputs
from virtual_device import VirtualDevice
from virtual_device.host import DeviceHost, RunningDevice
from virtual_device.scenarios import POLICE_APPS, apply

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
AGENT = "uk.police.tabard.agent"
EXAMPLE_POLICY = Path(__file__).parents[2] / "examples" / "policies" / "fleet-baseline.yaml"


def installed(tabard: Tabard, uses: int, group: str = "response") -> Path:
    """A running install's enrolment token, as `tokens create --json` printed it."""
    token = tabard.root / f"token-{group}.json"
    token.write_text(
        tabard.run("tokens", "create", "--group", group, "--uses", str(uses), "--json").stdout
    )
    return token


def officers(tabard: Tabard, *collars: str) -> None:
    for collar in collars:
        tabard.run(
            "users", "create", "--username", f"pc.{collar.lower()}", "--role", "officer",
            "--collar", collar, "--division", "north",
        )  # fmt: skip


def provision(tabard: Tabard, *args: str, check: bool = True) -> Any:
    files = write_inputs(tabard.root / "inputs")
    result = tabard.run(
        "provision",
        *args,
        *("--apk", str(files["apk"]), "--apps", str(files["apps"])),
        *("--policy", str(files["policy"]), "--json"),
        check=check,
    )
    return json.loads(result.stdout) if result.stdout.strip() else result


def devices_shown(tabard: Tabard) -> dict[str, dict[str, Any]]:
    """`tabard devices list --json`, by serial."""
    listed = json.loads(tabard.run("devices", "list", "--json").stdout)
    return {device["serial"]: device for device in listed["items"]}


def untouched(running: RunningDevice) -> dict[str, Any]:
    """The device's state, but for the host keys its user has allowed."""
    data = running.device.to_dict()
    data.pop("adb_keys")
    return data


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


def test_a_manifest_with_officers_ends_enrolled_assigned_and_checked_in_then_resumes(
    tabard: Tabard, host: DeviceHost
) -> None:
    tabard.bootstrap("admin", PASSWORD)
    devices = [
        host.add(VirtualDevice.create(model, android=android, seed=60 + i), accept_new_keys=True)
        for i, (model, android) in enumerate(PROFILES[1:])
    ]
    manifest = tabard.root / "devices.csv"
    manifest.write_text(
        "target,officer,group,expected_model\n"
        + "".join(
            f"{d.address},C10{i},{'traffic' if i == 2 else 'response'},"
            f"{d.device.getprop('ro.product.model')}\n"
            for i, d in enumerate(devices)
        )
    )
    apks, agents, report = tabard.root / "apks", tabard.root / "agents", tabard.root / "run.json"
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        officers(tabard, "C100", "C101", "C102")
        installed(tabard, uses=1, group="traffic")
        token = installed(tabard, uses=len(devices))
        tabard.run("virtual-device", "apks", "--out", str(apks))
        # The agent and the police apps come from the catalogue: no --apk, no --apps.
        for apk in [apks / "tabard-agent.apk", *sorted((apks / "apps").glob("*.apk"))]:
            tabard.run("apps", "upload", str(apk))
        run = (
            *("provision", "--manifest", str(manifest), "--payload", str(token)),
            *("--policy", str(EXAMPLE_POLICY), "--agents", str(agents)),
            *("--report", str(report), "--json"),
        )
        first = json.loads(tabard.run(*run).stdout)
        shown = devices_shown(tabard)
        before = [untouched(d) for d in devices]
        states = {path.name: sorted(p.name for p in path.iterdir()) for path in agents.iterdir()}
        second = json.loads(tabard.run(*run).stdout)
        after = [untouched(d) for d in devices]
        status = tabard.run("agent", "--state", str(agents / devices[0].device.serial), "status")
        trail = audit_trail(tabard)

    assert first["summary"] == {"devices": 3, "provisioned": 3}
    for i, (running, result) in enumerate(zip(devices, first["devices"], strict=True)):
        serial = running.device.serial
        device = shown[serial]
        assert result["status"] == "provisioned", result["message"]
        assert result["device_id"] == device["id"]
        assert device["state"] == "active" and device["last_seen_at"] is not None
        assert device["officer"]["collar_number"] == f"C10{i}"
        assert device["group"] == ("traffic" if i == 2 else "response")
        assert result["message"] == (
            f"enrolled as device {device['id'][:8]}, officer C10{i}, group {device['group']}, "
            "checked in"
        )
        assert states[serial] == sorted(
            ["adbkey", "adbkey.pub", "ca.pem", "command-signing.pem", "device.key",
             "device.pem", "enrolment.json", "platform.json"]
        )  # fmt: skip
    assert shown[devices[0].device.serial]["id"] in status.stdout
    assert f"adb:{devices[0].address}" in status.stdout

    assert second["summary"] == {"devices": 3, "skipped": 3}
    for result, done in zip(second["devices"], first["devices"], strict=True):
        assert result["status"] == "skipped" and result["steps"] == []
        assert result["message"] == (
            f"already done in the run of {when(done['finished_at'])}; not touched"
        )
        assert result["device_id"] == done["device_id"] and result["serial"] == done["serial"]
    assert after == before, "the resumed run touched a device"
    assert json.loads(report.read_text())["summary"] == {"devices": 3, "provisioned": 3}
    finished = [e.detail for e in trail if e.action == "provisioning.device_finished"]
    assert [d["outcome"] for d in finished].count("skipped") == 3
    assigned = [e for e in trail if e.action == "device.assigned"]
    assert {e.actor_name for e in assigned} == {"admin"} and len(assigned) == 3


def test_unknown_officers_and_groups_are_refused_before_any_device_changes(
    tabard: Tabard, host: DeviceHost
) -> None:
    tabard.bootstrap("admin", PASSWORD)
    devices = [
        host.add(VirtualDevice.create("SM-T580", seed=70 + i), accept_new_keys=True)
        for i in range(3)
    ]
    manifest = tabard.root / "devices.csv"
    manifest.write_text(
        "target,officer,group\n"
        f"{devices[0].address},C200,response\n"
        f"{devices[1].address},C404,response\n"
        f"{devices[2].address},C200,reponse\n"
    )
    before = [untouched(d) for d in devices]
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        officers(tabard, "C200")
        token = installed(tabard, uses=3)
        files = write_inputs(tabard.root / "inputs")
        for dry_run in ((), ("--dry-run",)):
            refused = tabard.run(
                "provision", "--manifest", str(manifest), "--payload", str(token),
                "--apk", str(files["apk"]), "--apps", str(files["apps"]), *dry_run, check=False,
            )  # fmt: skip
            assert refused.returncode == 2, refused.stdout
            assert refused.stderr.split("\n")[1:3] == [
                "  - line 3: no officer has collar number C404",
                "  - line 4: no enrolment token, device or group policy names group reponse",
            ]
        trail = audit_trail(tabard)

    assert [untouched(d) for d in devices] == before
    assert all(d.device.adb_keys == [] for d in devices), "a device was even connected to"
    assert not [e for e in trail if e.action.startswith("provisioning.")]


def test_a_dry_run_stops_where_the_real_run_would(tabard: Tabard, host: DeviceHost) -> None:
    tabard.bootstrap("admin", PASSWORD)
    bare = host.add(VirtualDevice.create("SM-J530F", seed=80), accept_new_keys=True)
    ready = host.add(
        apply(VirtualDevice.create("SM-T580", seed=81), "managed"), accept_new_keys=True
    )
    manifest = tabard.root / "devices.csv"
    manifest.write_text(f"target\n{bare.address}\n{ready.address}\n127.0.0.1:9\n")
    files = write_inputs(tabard.root / "inputs")
    before = untouched(bare)
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        token = installed(tabard, uses=1)
        outcomes = []
        for dry_run in (("--dry-run",), ()):
            result = tabard.run(
                "provision", "--manifest", str(manifest), "--payload", str(token),
                "--policy", str(files["policy"]), "--agents", str(tabard.root / "agents"),
                "--json", *dry_run, check=False,
            )  # fmt: skip
            assert result.returncode == 1, result.stderr
            outcomes.append(json.loads(result.stdout)["devices"])
            assert untouched(bare) == before
        shown = devices_shown(tabard)

    planned, done = ([d["status"] for d in devices] for devices in outcomes)
    assert planned == ["refused", "planned", "failed"]
    assert done == ["refused", "provisioned", "failed"]
    for missing, _, offline in outcomes:
        assert [r["code"] for r in missing["refusals"]] == ["apks_missing"]
        assert (
            "the Tabard agent (uk.police.tabard.agent: --apk FILE or the app catalogue)"
            in missing["message"]
        )
        assert all(f"{app}.apk in --apps DIR" in missing["message"] for app in POLICE_APPS)
        assert "127.0.0.1:9" in offline["message"]
    assert list(shown) == [ready.device.serial]


def test_a_phone_s_own_agent_enrols_from_the_hand_over_and_the_run_waits_for_it(
    tabard: Tabard, host: DeviceHost
) -> None:
    tabard.bootstrap("admin", PASSWORD)
    running = host.add(VirtualDevice.create("SM-T580", seed=90), accept_new_keys=True)
    lonely = host.add(VirtualDevice.create("SM-T580", seed=91), accept_new_keys=True)
    handed = threading.Event()
    record_broadcast = running.device.record_broadcast

    def receiver(broadcast: Any) -> None:  # the agent app's enrolment receiver
        record_broadcast(broadcast)
        handed.set()

    running.device.record_broadcast = receiver  # type: ignore[method-assign]

    def agent_app() -> None:
        handed.wait(timeout=120)
        platform = VirtualPlatform(running.device)
        state = AgentState(tabard.root / "phone-agent")
        payload = platform.handed_over()
        assert payload is not None
        asyncio.run(enrol(EnrolmentPayload.parse(payload.payload), state=state, platform=platform))
        asyncio.run(check_in(state=state, platform=platform))

    with tabard.serving():
        tabard.login("admin", PASSWORD)
        officers(tabard, "C300")
        token = installed(tabard, uses=2)
        phone = threading.Thread(target=agent_app, daemon=True)
        phone.start()
        result = provision(
            tabard, "--target", running.address, "--payload", str(token), "--officer", "C300"
        )
        phone.join(timeout=60)
        waited_out = provision(
            tabard, "--target", lonely.address, "--payload", str(token), "--enrol-timeout", "1",
            check=False,
        )  # fmt: skip
        shown = devices_shown(tabard)

    (device,) = result["devices"]
    assert device["status"] == "provisioned", device["message"]
    steps = {step["key"]: step["outcome"] for step in device["steps"]}
    assert steps["enrol_agent"] in ("done", "already") and steps["assign"] == "done"
    assert shown[running.device.serial]["officer"]["collar_number"] == "C300"
    (alone,) = waited_out["devices"]
    assert alone["status"] == "failed" and alone["half_provisioned"]
    assert "the agent did not enrol within 1 s" in alone["message"]
    assert "give --agents DIR" in alone["message"]


@needs_real_adb
def test_every_profile_ends_managed_read_back_by_adb(tabard: Tabard, host: DeviceHost) -> None:
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
                *("--target", d.address, "--payload", str(token), "--group", "response"),
                *("--agents", str(tabard.root / "agents")),
            )
            for d in devices
        ]
        with adb_server(tabard.root) as adb:
            seen = [read_back(adb, running) for running in devices]
        shown = devices_shown(tabard)
        trail = audit_trail(tabard)

    for running, result, adb_saw in zip(devices, results, seen, strict=True):
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
        enrolled = shown[running.device.serial]
        assert enrolled["id"] == device["device_id"] and enrolled["state"] == "active"
        assert enrolled["last_seen_at"] is not None and enrolled["group"] == "response"
    steps = [e for e in trail if e.action == "provisioning.step"]
    assert {e.target_id for e in steps} == {running.device.serial for running in devices}
    assert {e.actor_name for e in steps} == {"admin"} and {e.actor_type for e in steps} == {"staff"}
    assert len([e for e in trail if e.action == "provisioning.run_started"]) == len(devices)
    assert not any(json.loads(token.read_text())["token"] in str(e.detail) for e in trail)


def test_fifty_devices_eight_at_a_time_then_a_second_run_skips_them_all(
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
        "target,group,expected_model\n"
        + "".join(f"{d.address},response,{d.device.getprop('ro.product.model')}\n" for d in devices)
    )
    report = tabard.root / "report.json"
    batch = ("--manifest", str(manifest), "--parallel", "8", "--report", str(report))
    agents = ("--agents", str(tabard.root / "agents"))
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        token = installed(tabard, uses=50)
        first = provision(tabard, *batch, *agents, "--payload", str(token))
        saved = json.loads(report.read_text())
        before = [untouched(d) for d in devices]
        second = provision(tabard, *batch, *agents, "--payload", str(token))
        after = [untouched(d) for d in devices]
        shown = devices_shown(tabard)
        trail = audit_trail(tabard)

    assert first["summary"] == {"devices": 50, "provisioned": 50}
    assert [d["key"] for d in saved["devices"]] == [d.address for d in devices]
    assert all(d["status"] == "provisioned" and d["serial"] for d in saved["devices"])
    rows = (tabard.root / "report.csv").read_text().splitlines()
    assert len(rows) == 51 and all(",provisioned," in row for row in rows[1:])
    assert second["summary"] == {"devices": 50, "skipped": 50}
    assert json.loads(report.read_text())["devices"] == saved["devices"]
    assert after == before, "the second run touched a device"
    assert len(shown) == 50 and all(d["last_seen_at"] for d in shown.values())
    finished = [e.detail["outcome"] for e in trail if e.action == "provisioning.device_finished"]
    assert finished.count("provisioned") == 50 and finished.count("skipped") == 50
    runs = [e.detail for e in trail if e.action == "provisioning.run_finished"]
    assert [run["outcome"] for run in runs] == ["complete", "complete"]
