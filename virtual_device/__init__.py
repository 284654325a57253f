"""A faithful stand-in for the force's Samsung Galaxy J5 phones and Galaxy Tab tablets."""

from virtual_device.model import VirtualDevice
from virtual_device.profiles import PROFILES, DeviceProfile, profile_for

__all__ = ["PROFILES", "DeviceProfile", "VirtualDevice", "profile_for"]
