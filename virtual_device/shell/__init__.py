"""The device's `/system/bin/sh`: a small interpreter for the commands Tabard and adb use,
with Android's exact outputs (../shared/reference/android-adb.md section 3)."""

from virtual_device.shell.interpreter import Shell, ShellResult

__all__ = ["Shell", "ShellResult"]
