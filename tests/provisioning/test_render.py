"""What `tabard provision` prints: statuses in colour on a terminal and in words in a pipe,
never as markup; and a narrow terminal squeezes the message, not the device's address."""

from __future__ import annotations

import pytest

from provisioning.render import print_results
from provisioning.runner import DeviceResult
from tabard.output import stdout

RESULTS = [
    DeviceResult(
        key="127.0.0.1:5600",
        serial="bcdd9e5fa6b8e189",
        model="SM-T580",
        android_version="8.1.0",
        mode="device_owner_work_profile",
        status="provisioned",
        message="enrolled as device c8f90439, officer 4521, group response, checked in",
    ),
    DeviceResult(
        key="127.0.0.1:5601",
        serial="f58aa1bee605dccb",
        status="failed",
        half_provisioned=True,
        message="install_agent: the device refused the package",
    ),
]
SUMMARY = {"devices": 2, "provisioned": 1, "failed": 1}


def printed(width: int) -> str:
    with stdout.capture() as captured:
        saved = stdout.size
        stdout.size = (width, 25)
        try:
            print_results(RESULTS, SUMMARY, dry_run=False, report=None)
        finally:
            stdout.size = saved
    return captured.get()


class TestResults:
    @pytest.mark.parametrize("width", [80, 200])
    def test_a_status_is_words_not_markup(self, width: int) -> None:
        text = printed(width)
        assert "[green]" not in text and "[/]" not in text and "[red]" not in text, text
        assert "provisioned" in text and "failed (part-provisioned)" in text

    def test_a_narrow_terminal_keeps_every_address_and_serial_whole(self) -> None:
        text = printed(80)
        for result in RESULTS:
            assert result.key in text, text
            assert result.serial is not None and result.serial in text, text
