"""Choosing and reopening a platform backend from its spec: `virtual:MODEL[@ANDROID][+SCENARIO]`
(the virtual_device model in process; by default `managed`, as Tabard's provisioning leaves
a device) or `adb:HOST:PORT` (a real or virtual device over ADB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device_agent.errors import AgentError
from device_agent.platform.base import Platform

SPEC_HELP = "virtual:MODEL[@ANDROID][+SCENARIO] (e.g. virtual:SM-J530F@9) or adb:HOST:PORT"


def parse_platform_spec(spec: str) -> tuple[str, str]:
    kind, _, argument = spec.partition(":")
    if kind == "virtual":
        return kind, argument or "SM-J530F"
    if kind == "adb" and argument:
        return kind, argument
    raise AgentError(f"unknown platform {spec!r}; use {SPEC_HELP}")


def open_platform(spec: str, key_directory: Path) -> Platform:
    """A platform for `spec`; for `virtual:`, a new device. `key_directory` keeps the ADB
    host key for `adb:`."""
    kind, argument = parse_platform_spec(spec)
    if kind == "adb":
        from device_agent.platform.adb import open_adb

        return open_adb(argument, key_directory)
    from device_agent.platform.virtual import VirtualPlatform
    from virtual_device import VirtualDevice
    from virtual_device.scenarios import apply

    device_spec, _, scenario = argument.partition("+")
    model, _, android = device_spec.partition("@")
    try:
        device = VirtualDevice.create(model, android=android or None)
        return VirtualPlatform(apply(device, scenario or "managed"))
    except KeyError as exc:
        raise AgentError(str(exc.args[0])) from None


def reopen_platform(saved: dict[str, Any], key_directory: Path) -> Platform:
    """The platform an enrolled agent was using, from what `Platform.save()` returned."""
    kind, argument = parse_platform_spec(str(saved.get("spec", "")))
    if kind == "adb":
        from device_agent.platform.adb import open_adb

        return open_adb(argument, key_directory)
    from device_agent.platform.virtual import VirtualPlatform
    from virtual_device import VirtualDevice

    return VirtualPlatform(VirtualDevice.from_dict(saved["device"]))
