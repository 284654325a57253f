"""`tabard apps release|releases|progress|widen|halt|resume|rollback` against a running
server: a release from its pilot to the fleet, each stage's counts as a table, the device that
failed with Android's reason, a halt with its reason, and refusals in plain words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.apps.test_releases import answer
from tests.cli.conftest import REPR_MARKS, VALIDATION_DUMP, Live, cells, row_of
from virtual_device.apk import build_apk

PACKAGE = "uk.police.pnc"


def uploaded(live: Live, tmp_path: Path, *codes: int) -> None:
    for code in codes:
        path = tmp_path / f"v{code}.apk"
        path.write_bytes(build_apk(PACKAGE, version_code=code))
        live.ok("apps", "upload", str(path))


def answered(live: Live, devices: list[Any], fail: dict[int, str] | None = None) -> None:
    """Each device polls and answers the installs it was sent."""
    with live.http() as http:
        for number, device in enumerate(devices):
            answer(http, device, live.clock, fail=(fail or {}).get(number))  # type: ignore[arg-type]


class TestRelease:
    def test_a_release_goes_from_its_pilot_to_the_fleet_and_shows_what_failed(
        self, live: Live, tmp_path: Path
    ) -> None:
        live.login("it_admin")
        devices = [live.enrol() for _ in range(4)]
        uploaded(live, tmp_path, 1)
        pilot = f"pilot=devices:{devices[0].serial}"
        started = live.json(
            "apps", "release", PACKAGE, "1", "--stage", pilot, "--stage", "all=fleet",
            "--threshold", "50",
        )  # fmt: skip
        assert [s["pending"] for s in started["stages"]] == [1, 0]
        short = started["id"][:8]
        answered(live, devices)
        live.ok("apps", "widen", short)
        answered(live, devices, fail={2: "INSTALL_FAILED_INSUFFICIENT_STORAGE"})
        shown = live.ok("apps", "progress", short).stdout
        assert cells(row_of(shown, "1 named device"))[5:8] == ["1", "0", "0"]
        assert cells(row_of(shown, "the fleet"))[5:8] == ["2", "0", "1"]
        failed = row_of(shown, devices[2].serial)
        assert "INSTALL_FAILED_INSUFFICIENT_STORAGE" in failed
        assert "finished" in shown
        listed = row_of(live.ok("apps", "releases", PACKAGE).stdout, short)
        assert "finished" in listed and PACKAGE in listed

    def test_halt_says_why_and_resume_carries_on(self, live: Live, tmp_path: Path) -> None:
        live.login("it_admin")
        live.enrol()
        uploaded(live, tmp_path, 1)
        started = live.json("apps", "release", PACKAGE, "1", "--stage", "all=fleet")
        halted = live.ok("apps", "halt", started["id"][:8], "--reason", "crashes at login").stdout
        assert "halted" in halted and "crashes at login" in halted
        assert live.json("apps", "resume", started["id"][:8])["state"] == "running"


class TestRefusals:
    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (("--stage", "pilot"), "write it as NAME=devices:A,B"),
            (("--stage", "all=fleet@0"), "a stage's share is 1 to 100 percent"),
            (("--stage", "all=everywhere:x"), "write it as NAME=devices:A,B"),
        ],
    )
    def test_a_bad_stage_is_refused_in_plain_words(
        self, live: Live, tmp_path: Path, args: tuple[str, ...], says: str
    ) -> None:
        live.login("it_admin")
        uploaded(live, tmp_path, 1)
        said = live.refused("apps", "release", PACKAGE, "1", *args)
        assert says in said
        assert not any(mark in said for mark in REPR_MARKS + VALIDATION_DUMP), said

    def test_a_missing_version_and_a_second_widen_are_refused(
        self, live: Live, tmp_path: Path
    ) -> None:
        live.login("it_admin")
        live.enrol()
        uploaded(live, tmp_path, 1)
        missing = live.refused("apps", "release", PACKAGE, "7", "--stage", "all=fleet")
        assert "has no version 7 in the catalogue; upload it first" in missing
        started = live.json("apps", "release", PACKAGE, "1", "--stage", "all=fleet")
        last = live.refused("apps", "widen", started["id"][:8])
        assert "at its last stage already" in last

    def test_an_officer_cannot_see_releases(self, live: Live) -> None:
        live.login("officer")
        said = live.refused("apps", "releases")
        assert "this is for IT administrators and auditors only" in said
