"""Provisioning throughput: `tabard provision --manifest --parallel N` over a batch of virtual
devices on TCP, against a running `tabard serve` on SQLite that records every step.

The baseline, measured in the same run, is one device provisioned on its own with
`--target`. Prints seconds per device and devices per minute for both, the batch's speed-up
over one-at-a-time, and ends with one JSON line.

    python bench/provision.py [--devices 50] [--parallel 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checkin import PASSWORD, log
from tests.e2e.harness import Tabard
from tests.factories.provisioning import PROFILES, write_inputs
from virtual_device import VirtualDevice
from virtual_device.host import DeviceHost, RunningDevice


def timed_provision(tabard: Tabard, files: dict[str, Path], *args: str) -> tuple[float, Any]:
    started = time.perf_counter()
    result = tabard.run(
        "provision",
        *args,
        *("--payload", str(files["token"]), "--apk", str(files["apk"])),
        *("--apps", str(files["apps"]), "--policy", str(files["policy"]), "--json"),
    )
    return time.perf_counter() - started, json.loads(result.stdout)


def devices(host: DeviceHost, count: int, seed: int) -> list[RunningDevice]:
    return [
        host.add(VirtualDevice.create(model, android=android, seed=seed + i), accept_new_keys=True)
        for i, (model, android) in enumerate(PROFILES[i % len(PROFILES)] for i in range(count))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, DeviceHost() as host:
        tabard = Tabard(Path(root))
        tabard.bootstrap("bench", PASSWORD)
        files = write_inputs(Path(root) / "inputs")
        with tabard.serving():
            tabard.login("bench", PASSWORD)
            files["token"] = Path(root) / "token.json"
            files["token"].write_text(
                tabard.run(
                    "tokens", "create", "--group", "bench", "--uses", "10000", "--json"
                ).stdout
            )
            log("baseline: one device on its own, three times")
            single = [
                timed_provision(tabard, files, "--target", running.address)[0]
                for running in devices(host, 3, seed=1)
            ]
            batch = devices(host, args.devices, seed=1000)
            manifest = Path(root) / "devices.csv"
            manifest.write_text("target\n" + "".join(f"{d.address}\n" for d in batch))
            log(f"batch: {args.devices} devices, {args.parallel} at a time")
            elapsed, answer = timed_provision(
                tabard,
                files,
                *("--manifest", str(manifest), "--parallel", str(args.parallel)),
                *("--report", str(Path(root) / "report.json")),
            )
    if answer["summary"] != {"devices": args.devices, "provisioned": args.devices}:
        raise SystemExit(f"the batch did not provision every device: {answer['summary']}")
    one = statistics.median(single)
    per_device = elapsed / args.devices
    device_ms = statistics.median(d["ms"] for d in answer["devices"])
    figures = {
        "devices": args.devices,
        "parallel": args.parallel,
        "batch_s": round(elapsed, 2),
        "batch_s_per_device": round(per_device, 3),
        "batch_devices_per_min": round(60 / per_device, 1),
        "device_median_ms_inside_batch": device_ms,
        "baseline_single_run_s": round(one, 2),
        "baseline_devices_per_min": round(60 / one, 1),
        "speedup_vs_one_at_a_time": round(one / per_device, 1),
    }
    print(
        f"batch of {args.devices}, {args.parallel} at a time: {elapsed:.1f} s, "
        f"{per_device:.2f} s per device, {60 / per_device:.0f} devices/min "
        f"(median {device_ms} ms on each device)\n"
        f"baseline, one device per run: {one:.2f} s, {60 / one:.0f} devices/min\n"
        f"speed-up: {one / per_device:.1f}x"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
