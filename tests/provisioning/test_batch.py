"""Batches and their report: the report always says where each device got to, and a second
run with it skips what is done and resumes what is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from provisioning.batch import Report, Row, run_batch, skipped, summarise
from provisioning.runner import DeviceResult, StepResult, provision
from tests.factories.provisioning import connector, inputs, options
from virtual_device import VirtualDevice
from virtual_device.host import DeviceHost, RunningDevice


def batch(signer: PythonRSASigner, devices: list[RunningDevice], report: Report) -> list[str]:
    by_address = {running.address: running for running in devices}
    seen: list[str] = []

    def work(row: Row, result: DeviceResult, saved: Any) -> None:
        seen.append(row.key)
        provision(
            result,
            connect=connector(by_address[row.key], signer),
            inputs=inputs(),
            options=options(),
            listener=lambda kind, res, step: saved(res, step),
        )

    rows = [Row(d.address, None, f"C{i}", "response", None) for i, d in enumerate(devices)]
    run_batch(rows, report, work, parallel=3)
    return seen


def test_a_failed_device_is_reported_part_provisioned_and_only_it_is_run_again(
    host: DeviceHost, signer: PythonRSASigner, tmp_path: Path
) -> None:
    devices = [
        host.add(VirtualDevice.create("SM-T580", seed=i), accept_new_keys=True) for i in range(4)
    ]
    host.unplug_after(devices[2], 12)
    path = tmp_path / "report.json"
    first = batch(signer, devices, Report.load(path))
    saved = json.loads(path.read_text())
    assert sorted(first) == sorted(d.address for d in devices)
    assert saved["summary"] == {"devices": 4, "provisioned": 3, "failed": 1}
    broken = saved["devices"][2]
    assert broken["status"] == "failed" and broken["half_provisioned"] is True
    assert "went offline during step" in broken["message"]
    csv_rows = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_rows[3].split(",")[6:9] == ["failed", "device_owner_work_profile", "yes"]

    host.replug(devices[2])
    second = batch(signer, devices, Report.load(path))
    again = json.loads(path.read_text())
    assert second == [devices[2].address]
    assert again["summary"] == {"devices": 4, "provisioned": 4}
    assert again["devices"][:2] == saved["devices"][:2]
    assert again["devices"][2]["half_provisioned"] is False


def test_pending_devices_are_listed_in_manifest_order_before_any_runs(
    tmp_path: Path,
) -> None:
    report = Report(tmp_path / "r.json")
    rows = [Row(f"10.0.0.{i}:5555", None, None, None, None) for i in (3, 1, 2)]
    report.begin(rows)
    listed = json.loads((tmp_path / "r.json").read_text())["devices"]
    assert [(d["key"], d["status"]) for d in listed] == [
        ("10.0.0.3:5555", "pending"),
        ("10.0.0.1:5555", "pending"),
        ("10.0.0.2:5555", "pending"),
    ]
    assert not Report.load(tmp_path / "r.json").done("10.0.0.3:5555")


def test_a_device_done_in_an_earlier_run_is_said_to_be_skipped_and_when() -> None:
    done = DeviceResult(
        key="127.0.0.1:5555",
        officer="C1",
        status="provisioned",
        serial="0123456789abcdef",
        model="SM-T580",
        mode="device_owner_work_profile",
        device_id="0b6f3f0e-1c1e-4a39-9d1c-0d4f6ab7c0de",
        finished_at="2026-11-21T09:30:05+00:00",
        steps=[StepResult(1, "install_agent", "Install the Tabard agent", "done")],
    )
    result = skipped(done)
    assert result.status == "skipped" and result.steps == []
    assert result.message == "already done in the run of 2026-11-21 09:30:05 UTC; not touched"
    assert (result.serial, result.device_id, result.officer) == (
        done.serial,
        done.device_id,
        done.officer,
    )
    assert summarise([result, done]) == {"devices": 2, "skipped": 1, "provisioned": 1}
