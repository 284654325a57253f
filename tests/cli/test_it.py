"""IT's commands against a running server: commands named by the short ids their list shows,
plain refusals of ids that cannot be one, lost devices marked and filtered, and a staff
password reset."""

from __future__ import annotations

from mdm_server.auth.models import StaffUser
from tests.cli.conftest import REPR_MARKS, VALIDATION_DUMP, Live, row_of
from tests.factories.staff import PASSWORD, bearer, context_of, create_staff
from tests.support import audit_events


class TestCommandShortIds:
    def test_the_short_id_from_the_list_works_in_show_approve_and_cancel(self, live: Live) -> None:
        live.login("it_admin")
        device = live.enrol()
        sent = live.json("commands", "send", device.serial, "wipe_device", "--reason", "stolen")
        (command,) = sent["commands"]
        short = command["id"][:8]
        assert short in row_of(live.ok("commands", "list").stdout, device.serial)

        assert live.json("commands", "show", short)["id"] == command["id"]
        assert "Command " + short in live.ok("commands", "show", short).stdout
        assert "someone else must approve it" in live.refused("commands", "approve", short)

        live.login("it_admin")  # the second administrator
        assert live.json("commands", "approve", short)["state"] == "queued"
        cancelled = live.ok("commands", "cancel", short.upper(), "--reason", "found it")
        assert f"Command {short} (wipe_device) cancelled." in cancelled.stdout
        assert live.json("commands", "show", command["id"])["state"] == "cancelled"

    def test_an_id_that_cannot_be_one_is_refused_in_plain_words(self, live: Live) -> None:
        live.login("it_admin")
        for reference, says in (
            ("abc", "'abc' is not a command id: give its first 8 characters"),
            ("not-an-id", "'not-an-id' is not a command id"),
            ("..", "'..' is not a command id"),
            ("deadbeef", "no command id starts with 'deadbeef'"),
            ("a/b", "'a/b' is not a name or id Tabard uses"),
        ):
            for verb in ("show", "approve", "cancel"):
                said = live.refused("commands", verb, reference)
                assert says in said, said
                assert not any(mark in said for mark in REPR_MARKS + VALIDATION_DUMP), said


class TestLostDevices:
    def test_a_lost_device_is_marked_in_list_and_show_and_filtered(self, live: Live) -> None:
        live.login("it_admin")
        officer = create_staff(live.app, role="officer")
        lost, kept = live.enrol(), live.enrol()
        live.ok("devices", "assign", lost.serial, "--officer", str(officer.collar_number))
        with live.http() as http:
            reported = http.post(
                "/api/v1/me/device/lost",
                json={"note": "left on a bus"},
                headers=bearer(live.app, officer),
            )
            assert reported.status_code == 200, reported.text

        listed = live.ok("devices", "list").stdout
        assert "LOST" in row_of(listed, lost.serial)
        assert "LOST" not in row_of(listed, kept.serial)
        only_lost = live.json("devices", "list", "--lost")["items"]
        assert [d["serial"] for d in only_lost] == [lost.serial]
        not_lost = live.json("devices", "list", "--not-lost")["items"]
        assert [d["serial"] for d in not_lost] == [kept.serial]
        shown = live.ok("devices", "show", lost.serial).stdout
        assert "LOST: reported" in row_of(shown, "lost")
        assert f"by {officer.username}" in row_of(shown, "lost")
        assert "LOST" in row_of(shown, "state")  # as in the list and on the console
        assert "no" in row_of(live.ok("devices", "show", kept.serial).stdout, "lost")

    def test_last_seen_filters_take_a_date_without_a_zone(self, live: Live) -> None:
        live.login("it_admin")
        device = live.enrol()
        with live.http() as http:
            assert device.checkin(http, now=live.clock()).status_code == 200  # type: ignore[arg-type]
        assert live.json("devices", "list", "--last-seen-before", "2001-01-01")["items"] == []
        after = live.json("devices", "list", "--last-seen-after", "2001-01-01")["items"]
        assert [d["serial"] for d in after] == [device.serial]
        seen = live.clock().replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S UTC")
        assert seen in row_of(live.ok("devices", "list").stdout, device.serial)
        refused = live.tabard("devices", "list", "--last-seen-after", "yesterday")
        assert refused.exit_code == 2 and "not an ISO date or time" in refused.output


class TestOutOfService:
    def test_a_retired_device_shows_no_compliance_status_but_why_it_has_none(
        self, live: Live
    ) -> None:
        live.login("it_admin")
        device = live.enrol()
        with live.http() as http:
            assert device.checkin(http, now=live.clock()).status_code == 200  # type: ignore[arg-type]
        batch = live.json("devices", "retire", device.serial, "--reason", "broken", "--yes")
        (command,) = batch["commands"]
        live.login("it_admin")  # the second administrator approves; retiring is immediate
        live.ok("commands", "approve", command["id"][:8])
        shown = live.json("devices", "show", device.serial)
        assert shown["compliance"] == "not_applicable"
        row = row_of(live.ok("devices", "show", device.serial).stdout, "compliance")
        assert "not applicable (the device is retired)" in row
        listed = row_of(live.ok("devices", "list", "--state", "retired").stdout, device.serial)
        assert "not applicable" in listed and "compliant" not in listed


def _login(live: Live, user: StaffUser, password: str) -> int | str:
    """200, or the error code of the refusal."""
    with live.http() as http:
        answer = http.post(
            "/api/v1/auth/login", json={"username": user.username, "password": password}
        )
    return 200 if answer.status_code == 200 else str(answer.json()["error"])


class TestPasswordReset:
    def test_it_gives_a_temporary_password_that_must_be_changed_and_ends_sessions(
        self, live: Live
    ) -> None:
        live.login("it_admin")
        user = create_staff(live.app, role="auditor", second_factor=False)
        with live.http() as http:
            pair = http.post(
                "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
            ).json()
        live.clock.advance(seconds=1)

        reset = live.ok("users", "reset-password", user.username).stdout
        assert "must choose a new password at next login" in reset
        temporary = row_of(reset, "Temporary password (shown once):").split(":")[-1].strip()
        assert len(temporary) >= 12

        headers = {"authorization": f"Bearer {pair['access_token']}"}
        with live.http() as http:
            assert http.get("/api/v1/auth/me", headers=headers).status_code == 401
            refreshed = http.post(
                "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            assert refreshed.status_code == 401
            assert _login(live, user, PASSWORD) == "invalid_credentials"
            fresh = http.post(
                "/api/v1/auth/login", json={"username": user.username, "password": temporary}
            )
            assert fresh.status_code == 200 and fresh.json()["password_change_required"] is True
        (event,) = audit_events(context_of(live.app).database, "staff_user.password_reset")
        assert event.detail == {"username": user.username}
        assert temporary not in event.canonical

    def test_json_carries_the_temporary_password_and_failed_sign_ins_are_forgiven(
        self, live: Live
    ) -> None:
        live.login("it_admin")
        user = create_staff(live.app, role="officer")
        for _ in range(5):
            assert _login(live, user, "not the password at all") == "invalid_credentials"
        assert _login(live, user, PASSWORD) == "too_many_attempts"

        answer = live.json("users", "reset-password", user.username)
        assert answer["must_change_password"] is True
        assert answer["sign_in_throttled_until"] is None
        assert _login(live, user, answer["one_time_password"]) == 200

    def test_only_it_resets_and_never_their_own(self, live: Live) -> None:
        admin = live.login("it_admin")
        assert "cannot reset your own password" in live.refused(
            "users", "reset-password", admin.username
        )
        assert "no staff account named" in live.refused("users", "reset-password", "nobody")
        other = create_staff(live.app, role="it_admin")
        live.login("auditor")
        said = live.refused("users", "reset-password", other.username)
        assert "forbidden" in said or "it_admin" in said
        assert _login(live, other, PASSWORD) == 200
