"""adbd for virtual devices: the ADB wire protocol over TCP (AOSP adb/protocol.txt)."""
