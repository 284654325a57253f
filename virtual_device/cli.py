"""`tabard virtual-device`: run virtual Galaxy devices with adbd on TCP until stopped."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from virtual_device import scenarios
from virtual_device.adb.daemon import AdbDaemon
from virtual_device.model import VirtualDevice
from virtual_device.profiles import PROFILES

STATE_VERSION = 1


def load_state(path: Path) -> list[VirtualDevice]:
    data = json.loads(path.read_text())
    if data.get("version") != STATE_VERSION:
        raise typer.BadParameter(f"{path} is not a virtual device state file (version 1)")
    return [VirtualDevice.from_dict(entry) for entry in data["devices"]]


def save_state(path: Path, devices: list[VirtualDevice]) -> None:
    document = {"version": STATE_VERSION, "devices": [device.to_dict() for device in devices]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def make_devices(
    model: str, android: str | None, count: int, scenario: str, seed: int | None
) -> list[VirtualDevice]:
    devices = []
    for index in range(count):
        device = VirtualDevice.create(
            model, android=android, seed=None if seed is None else seed + index
        )
        devices.append(scenarios.apply(device, scenario))
    return devices


def _describe(device: VirtualDevice, address: tuple[str, int], scenario: str) -> dict[str, Any]:
    return {
        "address": f"{address[0]}:{address[1]}",
        "serial": device.serial,
        "model": device.getprop("ro.product.model"),
        "android": device.getprop("ro.build.version.release"),
        "scenario": scenario,
    }


async def serve(
    devices: list[VirtualDevice],
    *,
    host: str,
    port: int,
    accept_new_keys: bool,
    scenario: str,
    json_output: bool,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    daemons = []
    for index, device in enumerate(devices):
        daemon = AdbDaemon(device, accept_new_keys=accept_new_keys)
        address = await daemon.start(host, port + index if port else 0)
        daemons.append(daemon)
        described = _describe(device, address, scenario)
        if json_output:
            print(json.dumps(described), flush=True)
        else:
            print(
                f"{described['model']} Android {described['android']} serial "
                f"{described['serial']} adb {described['address']} ({scenario})",
                flush=True,
            )
    await stop.wait()
    for daemon in daemons:
        await daemon.close()


def virtual_device(
    model: Annotated[
        str, typer.Option(help=f"One of {', '.join(sorted({p.model for p in PROFILES.values()}))}.")
    ] = "SM-J530F",
    android: Annotated[
        str | None, typer.Option(help="Android version, e.g. 9 for the J530F update.")
    ] = None,
    port: Annotated[int, typer.Option(help="First TCP port (0: any free ports).")] = 5555,
    count: Annotated[int, typer.Option(min=1, max=1000, help="How many devices.")] = 1,
    scenario: Annotated[
        str, typer.Option(help=f"One of {', '.join(scenarios.SCENARIOS)}.")
    ] = "factory-fresh",
    accept_new_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-keys", help="Accept unknown ADB host keys, as if the user tapped Allow."
        ),
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option(help="Load devices from this JSON file at start and save them at exit."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    seed: Annotated[int | None, typer.Option(help="Make serials and IMEIs repeatable.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per device.")
    ] = False,
) -> None:
    """Run virtual Galaxy devices whose adbd a real adb client cannot tell from a phone."""
    if scenario not in scenarios.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}", param_hint="--scenario")
    try:
        if state is not None and state.exists():
            devices = load_state(state)
            scenario = f"from {state.name}"
        else:
            devices = make_devices(model, android, count, scenario, seed)
    except KeyError as error:
        typer.echo(f"error: {error.args[0]}", err=True)
        raise typer.Exit(1) from None
    try:
        asyncio.run(
            serve(
                devices,
                host=host,
                port=port,
                accept_new_keys=accept_new_keys,
                scenario=scenario,
                json_output=json_output,
            )
        )
    except OSError as error:
        typer.echo(f"error: cannot listen on {host}:{port}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    finally:
        if state is not None:
            save_state(state, devices)
            print(f"Saved {len(devices)} device(s) to {state}", file=sys.stderr, flush=True)
