"""How the agent reaches the phone: one interface, one backend per kind of device."""

from device_agent.platform.base import DeviceFacts, Platform, Posture, ScreenLock
from device_agent.platform.factory import open_platform, parse_platform_spec

__all__ = [
    "DeviceFacts",
    "Platform",
    "Posture",
    "ScreenLock",
    "open_platform",
    "parse_platform_spec",
]
