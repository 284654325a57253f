"""A fresh install, end to end over real sockets: IT bootstraps, logs in, makes a token; the
agent enrols from the QR code and checks in; IT sees the device and its posture."""

from __future__ import annotations

import json
import stat

import pytest

from tests.e2e.harness import Tabard
from tests.support import read_qr

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"


class TestFreshInstall:
    def test_enrol_from_qr_then_check_in_then_it_shows_the_device(self, tabard: Tabard) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving() as log:
            tabard.login("admin", PASSWORD)
            qr = tabard.root / "token.png"
            created = json.loads(
                tabard.run(
                    "tokens", "create", "--group", "response", "--qr", str(qr), "--json"
                ).stdout
            )
            code = read_qr(qr)
            payload_file = tabard.root / "payload.json"
            payload_file.write_text(code)
            assert json.loads(code)["token"] == created["token"]

            state = tabard.root / "agent"
            enrolled = json.loads(
                tabard.run(
                    "agent",
                    "--state",
                    str(state),
                    "enrol",
                    "--payload",
                    str(payload_file),
                    "--platform",
                    "virtual:SM-T580",
                    "--json",
                ).stdout
            )
            answer = json.loads(
                tabard.run("agent", "--state", str(state), "checkin", "--json").stdout
            )
            assert answer["checkin_interval_s"] > 0

            shown = json.loads(
                tabard.run("devices", "show", enrolled["device_id"], "--json").stdout
            )
            human = tabard.run("devices", "show", enrolled["device_id"]).stdout
            listing = tabard.run("devices", "list").stdout
            short = enrolled["device_id"][:8]
            by_short_id = json.loads(tabard.run("devices", "show", short, "--json").stdout)
        assert shown["model"] == "SM-T580" and shown["state"] == "active"
        assert shown["group"] == "response"
        assert shown["posture"]["android_version"] == "8.1.0"
        assert shown["posture"]["encrypted"] is True
        assert shown["last_seen_at"] is not None
        assert "Latest posture" in human and "SM-T580" in human
        assert short in listing and enrolled["device_id"] not in listing
        assert by_short_id["id"] == enrolled["device_id"]
        assert any("POST /api/v1/device/checkin 200" in line for line in log)
        assert not any(created["token"] in line for line in log), "a secret reached the log"
        session = tabard.root / "config" / "session.json"
        assert stat.S_IMODE(session.stat().st_mode) == 0o600

    def test_serve_refuses_an_unmigrated_database(self, tabard: Tabard) -> None:
        result = tabard.run("serve", "--port", str(tabard.port), check=False)
        assert result.returncode == 1
        assert "tabard db upgrade" in result.stderr

    def test_bootstrap_prints_a_one_time_password_once(self, tabard: Tabard) -> None:
        tabard.run("db", "upgrade")
        first = tabard.run("admin", "create", "--username", "admin", "--if-missing")
        again = tabard.run("admin", "create", "--username", "admin", "--if-missing")
        assert "One-time password" in first.stdout
        assert "already exists" in again.stdout


class TestFleetLifecycleThroughTheCli:
    def test_assign_retire_revoke_and_disable_as_it_would(self, tabard: Tabard) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            officer = json.loads(
                tabard.run(
                    "users",
                    "create",
                    "--username",
                    "pc.jones",
                    "--role",
                    "officer",
                    "--collar",
                    "4521",
                    "--division",
                    "north",
                    "--json",
                ).stdout
            )
            assert officer["one_time_password"]
            token = json.loads(
                tabard.run(
                    "tokens", "create", "--group", "response", "--uses", "2", "--json"
                ).stdout
            )

            state = tabard.root / "agent"
            enrolled = json.loads(
                tabard.run(
                    "agent",
                    "--state",
                    str(state),
                    "enrol",
                    "--server",
                    tabard.url,
                    "--token",
                    token["token"],
                    "--json",
                ).stdout
            )
            device_id = enrolled["device_id"]
            tabard.run(
                "devices", "assign", device_id[:8], "--officer", "4521", "--group", "traffic"
            )
            mine = json.loads(tabard.run("devices", "list", "--officer", "4521", "--json").stdout)
            assert [d["id"] for d in mine["items"]] == [device_id]
            assert mine["items"][0]["group"] == "traffic"

            asked = json.loads(
                tabard.run(
                    "devices", "retire", device_id, "--reason", "screen smashed", "--yes", "--json"
                ).stdout
            )
            (command,) = asked["commands"]
            assert command["state"] == "pending_approval"
            alone = tabard.run("commands", "approve", command["id"], check=False)
            assert alone.returncode == 1
            assert "second_approver_required" in alone.stderr
            assert tabard.run("agent", "--state", str(state), "checkin").returncode == 0

            tabard.run(
                "admin", "create", "--username", "admin2", "--password-stdin", stdin=PASSWORD + "\n"
            )
            tabard.login("admin2", PASSWORD)
            tabard.run("commands", "approve", command["id"])
            shown = json.loads(tabard.run("commands", "show", command["id"], "--json").stdout)
            assert (shown["state"], shown["approved_by"]) == ("succeeded", "admin2")
            refused = tabard.run("agent", "--state", str(state), "checkin", check=False)
            assert refused.returncode == 1
            assert "certificate_revoked" in refused.stderr

            tabard.run("tokens", "revoke", token["id"])
            listed = json.loads(tabard.run("tokens", "list", "--all", "--json").stdout)
            assert [t["status"] for t in listed["items"]] == ["revoked"]
            assert "No usable enrolment tokens" in tabard.run("tokens", "list").stdout

            tabard.run("users", "disable", "pc.jones")
            active = json.loads(tabard.run("users", "list", "--json").stdout)
            assert [u["username"] for u in active["items"]] == ["admin", "admin2"]

            tabard.run("logout")
            after = tabard.run("devices", "list", check=False)
            assert after.returncode == 1
            assert "tabard login" in after.stderr
