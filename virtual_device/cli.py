"""`tabard virtual-device`: run virtual Galaxy devices with adbd on TCP until stopped, and
`tabard virtual-device apks`: the agent and police app APKs they accept."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from virtual_device import scenarios
from virtual_device.adb.daemon import AdbDaemon
from virtual_device.apk import read_apk, tabard_apks
from virtual_device.model import VirtualDevice
from virtual_device.profiles import PROFILES

STATE_VERSION = 1
AGENT_APK = "tabard-agent.apk"
APPS_DIR = "apps"
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")

virtual_device_app = typer.Typer(
    help="Virtual Galaxy devices whose adbd a real adb client cannot tell from a phone."
)


_SIZE = re.compile(r"^(\d+)([KMG]?)B?$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Bytes from `123`, `20M`, `6G` (binary units, as df and Android's settings count)."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    power = " KMG".index(match.group(2).upper() or " ")
    return int(match.group(1)) << (10 * power)


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


@virtual_device_app.callback(invoke_without_command=True)
def virtual_device(
    ctx: typer.Context,
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
    data_free: Annotated[
        str | None,
        typer.Option(
            help="Free space on each device's /data, e.g. 20M or 6G (default 8G): set it low "
            "to see pm install refuse with INSTALL_FAILED_INSUFFICIENT_STORAGE."
        ),
    ] = None,
) -> None:
    """Run virtual Galaxy devices whose adbd a real adb client cannot tell from a phone;
    `apks` makes the agent and police app APKs they accept."""
    if ctx.invoked_subcommand is not None:
        return
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
    if data_free is not None:
        free = parse_size(data_free)
        if free is None:
            raise typer.BadParameter(
                f"{data_free!r} is not a size like 20M or 6G", param_hint="--data-free"
            )
        for device in devices:
            device.data_free = free
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


@virtual_device_app.command("apks")
def apks(
    out: Annotated[Path, typer.Option(help="Directory to write them to (made if missing).")],
    package: Annotated[
        list[str] | None,
        typer.Option(help="Another police app to make, beside the five Tabard knows (repeat)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the Tabard agent APK (OUT/tabard-agent.apk) and the police app APKs
    (OUT/apps/<package>.apk) for `tabard provision --apk ... --apps ...` on virtual devices.
    They install on virtual devices only: a phone needs the force's signed builds."""
    bad = [name for name in package or () if not _PACKAGE.match(name)]
    if bad:
        typer.echo(
            f"error: not a package name: {', '.join(bad)} (like uk.police.example)", err=True
        )
        raise typer.Exit(2)
    built = tabard_apks(tuple(package or ()))
    agent, *_ = built
    written = []
    try:
        (out / APPS_DIR).mkdir(parents=True, exist_ok=True)
        for name, data in built.items():
            path = out / AGENT_APK if name == agent else out / APPS_DIR / f"{name}.apk"
            path.write_bytes(data)
            info = read_apk(data)
            written.append(
                {"path": str(path), "package": name, "admin_receivers": list(info.admin_receivers)}
            )
    except OSError as error:
        typer.echo(f"error: cannot write to {out}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    if json_output:
        print(
            json.dumps({"apk": str(out / AGENT_APK), "apps": str(out / APPS_DIR), "files": written})
        )
        return
    print(f"Wrote {len(written)} APKs for virtual devices:")
    for entry in written:
        admin = (
            f" (device admin {', '.join(entry['admin_receivers'])})"
            if entry["admin_receivers"]
            else ""
        )
        print(f"  {entry['path']}  {entry['package']}{admin}")
    print(f"Provision with: --apk {out / AGENT_APK} --apps {out / APPS_DIR}")
