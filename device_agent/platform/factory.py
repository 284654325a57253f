"""Choosing and reopening a platform backend from its spec (`virtual:SM-J530F`)."""

from __future__ import annotations

from typing import Any

from device_agent.errors import AgentError
from device_agent.platform.base import Platform
from device_agent.platform.virtual import VirtualPlatform
from virtual_device import VirtualDevice


def parse_platform_spec(spec: str) -> tuple[str, str]:
    kind, _, argument = spec.partition(":")
    if kind != "virtual":
        raise AgentError(f"unknown platform {spec!r}; use virtual:MODEL (e.g. virtual:SM-J530F)")
    return kind, argument or "SM-J530F"


def open_platform(spec: str) -> Platform:
    """A new platform for `spec`: for `virtual:MODEL[@ANDROID]`, a factory-fresh device."""
    _, argument = parse_platform_spec(spec)
    model, _, android = argument.partition("@")
    try:
        return VirtualPlatform(VirtualDevice.create(model, android=android or None))
    except KeyError as exc:
        raise AgentError(str(exc.args[0])) from None


def reopen_platform(saved: dict[str, Any]) -> Platform:
    """The platform an enrolled agent was using, from what `Platform.save()` returned."""
    parse_platform_spec(str(saved.get("spec", "")))
    return VirtualPlatform(VirtualDevice.from_dict(saved["device"]))
