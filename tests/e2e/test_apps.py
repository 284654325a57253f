"""Apps end to end over real sockets: twenty virtual phones behind their own adbd, each with a
running agent that reaches the phone over ADB, and a server on a real port. IT uploads three
versions of a police app with the CLI and releases them: one to everyone; the next from a
pilot of two, to half, to all, with one phone out of space; a third that no phone can run,
which halts itself at its pilot; then rolls both back. Every phone's installed version is then read
with Debian's own `adb` (`dumpsys package`), as a technician would."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents import agent_running
from tests.e2e.harness import Tabard
from tests.factories.adb import ADB, adb_server
from tests.support import wait_for
from virtual_device import VirtualDevice
from virtual_device.apk import build_apk
from virtual_device.host import DeviceHost, RunningDevice
from virtual_device.scenarios import managed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(ADB is None, reason="needs Debian's adb (apt-get install adb)"),
]
PASSWORD = "correct horse battery staple"
PHONES = 20
FORMS = "uk.police.forms"
MODELS = ("SM-J510FN", "SM-J530F", "SM-T580")


def enrol(tabard: Tabard, payload: Path, running: RunningDevice, number: int) -> Path:
    state = tabard.root / f"agent-{number:02d}" / "state"
    state.parent.mkdir()
    platform = f"adb:{running.address}"
    tabard.run(
        "agent", "--state", str(state), "enrol", "--payload", str(payload), "--platform", platform
    )
    return state


def release(tabard: Tabard, *args: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(tabard.run("apps", *args, "--json").stdout)
    return shown


def settled(tabard: Tabard, release_id: str, stage: int) -> dict[str, Any]:
    """The release once no device of `stage` waits any more."""
    found: dict[str, Any] = wait_for(
        lambda: (
            (r := release(tabard, "progress", release_id))["stages"][stage]["pending"] == 0 and r
        ),
        f"stage {stage + 1} of release {release_id[:8]} to settle",
        timeout=180,
    )
    return found


def rollbacks_answered(shown: dict[str, Any]) -> dict[str, Any] | None:
    """The release, once every device that took it has answered its rollback."""
    took = [d for s in shown["stages"] for d in s["devices"] if d["state"] == "installed"]
    return shown if all(d["rollback"] in ("succeeded", "failed") for d in took) else None


def installed_version(adb: Any, running: RunningDevice) -> int | None:
    output = adb.on(running, "shell", "dumpsys", "package", FORMS).stdout
    found = re.search(r"versionCode=(\d+)", output)
    return int(found.group(1)) if found else None


class TestReleases:
    def test_pilot_half_all_a_failure_a_halt_and_a_rollback(self, tabard: Tabard) -> None:
        tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"  # only the long poll carries
        tabard.bootstrap("admin", PASSWORD)
        apks = tabard.root / "apks"
        apks.mkdir()
        # Version 3 needs Android 10. Version 2 is a debug build: Android 7 to 9 let `pm install
        # -d` take a debug build back to an older version, never a release build
        # (tests/agent/test_apps.py shows that refusal).
        for code, min_sdk in ((1, 24), (2, 24), (3, 29)):
            (apks / f"forms-{code}.apk").write_bytes(
                build_apk(
                    FORMS,
                    version_code=code,
                    version_name=f"1.{code}",
                    min_sdk=min_sdk,
                    debuggable=code == 2,
                )
            )
        with DeviceHost() as host, tabard.serving():
            phones = []
            for number in range(PHONES):
                device = VirtualDevice.create(MODELS[number % len(MODELS)], seed=100 + number)
                managed(device)
                phones.append(host.add(device, accept_new_keys=True))
            tabard.login("admin", PASSWORD)
            token = json.loads(
                tabard.run(
                    "tokens", "create", "--group", "response", "--uses", str(PHONES), "--json"
                ).stdout
            )
            payload = tabard.root / "payload.json"
            payload.write_text(json.dumps(token["payload"]))
            with ThreadPoolExecutor(max_workers=4) as pool:
                states = list(
                    pool.map(lambda n: enrol(tabard, payload, phones[n], n), range(PHONES))
                )
            for code in (1, 2, 3):
                tabard.run("apps", "upload", str(apks / f"forms-{code}.apk"))
            with ExitStack() as agents:
                for state in states:
                    agents.enter_context(agent_running(tabard, state))

                first = release(tabard, "release", FORMS, "1", "--stage", "all=fleet")
                everyone = settled(tabard, first["id"], 0)
                assert everyone["stages"][0]["installed"] == PHONES
                assert everyone["state"] == "finished"

                full = phones[7]
                full.device.data_free = 4096  # no room for the update
                pilot = f"pilot=devices:{phones[0].device.serial},{phones[1].device.serial}"
                second = release(
                    tabard,
                    "release",
                    FORMS,
                    "2",
                    "--stage",
                    pilot,
                    "--stage",
                    "half=fleet@50",
                    "--stage",
                    "all=fleet",
                    "--threshold",
                    "20",
                )
                assert second["previous_version_code"] == 1
                assert settled(tabard, second["id"], 0)["stages"][0]["installed"] == 2
                release(tabard, "widen", second["id"])
                half = settled(tabard, second["id"], 1)
                assert sum(s["installed"] + s["failed"] for s in half["stages"]) == PHONES // 2
                release(tabard, "widen", second["id"])
                done = settled(tabard, second["id"], 2)
                failed = [d for s in done["stages"] for d in s["devices"] if d["state"] == "failed"]
                assert [(d["serial"], d["reason"]) for d in failed] == [
                    (full.device.serial, "INSTALL_FAILED_INSUFFICIENT_STORAGE")
                ]
                assert sum(s["installed"] for s in done["stages"]) == PHONES - 1
                assert done["state"] == "finished"
                shown = tabard.run("apps", "progress", second["id"][:8]).stdout
                assert "INSTALL_FAILED_INSUFFICIENT_STORAGE" in shown

                third = release(
                    tabard, "release", FORMS, "3", "--stage", pilot, "--stage", "all=fleet"
                )
                halted = wait_for(
                    lambda: (
                        (r := release(tabard, "progress", third["id"]))["state"] == "halted" and r
                    ),
                    "the release to halt itself",
                    timeout=180,
                )
                assert halted["halted_by"] == "releases"
                pilots = halted["stages"][0]["devices"]
                assert {d["reason"] for d in pilots} == {"INSTALL_FAILED_OLDER_SDK"}
                assert halted["stages"][1]["devices"] == []  # never widened past its pilot

                release(tabard, "rollback", third["id"])
                back = release(tabard, "rollback", second["id"])
                assert back["state"] == "rolled_back"
                rolled = wait_for(
                    lambda: rollbacks_answered(release(tabard, "progress", second["id"])),
                    "every rollback to be answered",
                    timeout=180,
                )
            outcome = {d["serial"]: d for s in rolled["stages"] for d in s["devices"]}
            (tabard.root / "adb-home").mkdir()
            with adb_server(tabard.root / "adb-home") as adb:
                for running in phones:
                    adb.connected(running)
                    assert installed_version(adb, running) == 1, running.device.serial
                    row = outcome[running.device.serial]
                    expected = ("failed", None) if running is full else ("installed", "succeeded")
                    assert (row["state"], row["rollback"]) == expected
