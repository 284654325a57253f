"""`tabard login` with a second factor and `tabard mfa ...`, against a live server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from mdm_server.auth import factors
from tests.cli.conftest import Live
from tests.factories.passkeys import register_passkey
from tests.factories.staff import (
    AUTHENTICATORS,
    PASSWORD,
    context_of,
    create_staff,
    second_factor_code,
)


def _previous_code(live: Live, secret: str) -> str:
    """The code of the step before now, which the server takes and has not seen used."""
    return pyotp.TOTP(secret).at(live.clock() - timedelta(seconds=factors.STEP_S))


POLICY = """\
name: baseline
device:
  passcode:
    min_length: 6
"""


@pytest.fixture
def live_settings() -> dict[str, object]:
    """Second factors required of IT administrators and auditors, as a force turns them on."""
    return {"second_factor_required": True}


class TestFirstLoginOfAnAdministrator:
    def test_is_told_to_enrol_and_can_do_nothing_else_until_it_has(self, live: Live) -> None:
        user = create_staff(live.app, role="it_admin", second_factor=False)
        said = live.ok(
            "login",
            "--server",
            live.url,
            "--username",
            user.username,
            "--password-stdin",
            input=PASSWORD + "\n",
        ).stdout
        assert "must set up a second factor" in " ".join(said.split())
        assert "tabard mfa enrol" in said
        assert "second factor" in live.refused("users", "list")

        started = live.json("mfa", "enrol")
        assert started["otpauth_uri"].startswith("otpauth://totp/")
        assert "not the code your app shows now" in live.refused(
            "mfa", "confirm", "--code", "000000"
        )
        codes = live.json("mfa", "confirm", "--code", _previous_code(live, started["secret"]))
        assert len(codes["recovery_codes"]) == 10

        live.ok("users", "list")
        status = live.json("mfa", "status")
        assert status["enrolled"] is True and status["recovery_codes_left"] == 10

    def test_enrol_draws_the_qr_code_and_says_how_to_finish(self, live: Live) -> None:
        live.login("auditor", second_factor=False)
        said = live.ok("mfa", "enrol", input="").stdout
        assert "Scan this with your authenticator app" in said
        assert "█" in said or "▀" in said
        assert "otpauth://totp/" in said
        assert "tabard mfa confirm --code CODE" in said


class TestLoginWithAFactor:
    def test_the_code_is_read_from_the_line_after_the_password(self, live: Live) -> None:
        user = create_staff(live.app, role="it_admin")
        code = second_factor_code(live.app, user)
        said = live.ok(
            "login",
            "--server",
            live.url,
            "--username",
            user.username,
            "--password-stdin",
            input=f"{PASSWORD}\n{code}\n",
        ).stdout
        assert f"as {user.username}" in " ".join(said.split())
        live.ok("users", "list")

    def test_a_wrong_or_missing_code_is_refused(self, live: Live) -> None:
        user = create_staff(live.app, role="auditor")
        args = ("login", "--server", live.url, "--username", user.username, "--password-stdin")
        assert "wrong code" in live.refused(*args, "--code", "123456", input=PASSWORD + "\n")
        assert "code from your authenticator app is needed" in live.refused(
            *args, input=PASSWORD + "\n"
        )
        assert "not logged in" in live.refused("users", "list")


class TestStepUpAndRemove:
    def test_step_up_then_remove_with_a_recovery_code(self, live: Live) -> None:
        user = live.login("supervisor", second_factor=True)
        said = live.ok("mfa", "step-up", "--code", second_factor_code(live.app, user)).stdout
        assert "Stepped up" in said
        assert "wrong code" in live.refused("mfa", "step-up", "--code", "999999")
        recovery = AUTHENTICATORS[user.id].recovery_codes.pop()
        live.ok("mfa", "remove", "--code", recovery)
        assert live.json("mfa", "status")["enrolled"] is False


class TestStepUpBeforeWhatCannotBeUndone:
    """Each guarded action, as the CLI runs it, refused once the sign-in's factor is older than
    the step-up window and done after `tabard mfa step-up`."""

    def test_approving_a_wipe_applying_to_the_fleet_and_exporting_a_bundle(
        self, live: Live, tmp_path: Path
    ) -> None:
        live.login("it_admin")
        device = live.enrol()
        (command,) = live.json(
            "commands", "send", device.serial, "wipe_device", "--reason", "stolen"
        )["commands"]
        policy = tmp_path / "baseline.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        approver = live.login("it_admin")  # signed in with a code: a factor used just now
        live.clock.advance(seconds=context_of(live.app).settings.step_up_max_age_s + 1)

        said = live.refused("commands", "approve", command["id"][:8])
        assert "step_up_required" in said and "tabard mfa step-up" in said
        assert live.json("commands", "show", command["id"])["state"] == "pending_approval"
        said = live.refused("policy", "apply", str(policy), "--to", "fleet")
        assert "not applied to fleet" in said and "step_up_required" in said

        live.ok("mfa", "step-up", "--code", second_factor_code(live.app, approver))
        assert live.json("commands", "approve", command["id"][:8])["state"] == "queued"
        assert "Applied to fleet" in live.ok("policy", "apply", str(policy), "--to", "fleet").stdout

        auditor = live.login("auditor")
        live.clock.advance(seconds=context_of(live.app).settings.step_up_max_age_s + 1)
        bundle = tmp_path / "bundle.zip"
        export = ("audit", "export", "--from", "2026-11-21", "--to", "2026-11-22", "--out")
        assert "step_up_required" in live.refused(*export, str(bundle))
        assert not bundle.exists()
        live.ok("mfa", "step-up", "--code", second_factor_code(live.app, auditor))
        live.ok(*export, str(bundle))
        assert bundle.read_bytes()[:2] == b"PK"


class TestPasskeys:
    def test_a_passkey_only_account_is_told_the_command_line_cannot_use_it(
        self, live: Live
    ) -> None:
        user = create_staff(live.app, role="supervisor", second_factor=False)
        register_passkey(live.app, user)
        args = ("login", "--server", live.url, "--username", user.username, "--password-stdin")
        said = live.refused(*args, input=PASSWORD + "\n")
        assert "second factor is a passkey" in said and "console" in said

    def test_list_and_remove_a_passkey_after_a_step_up(self, live: Live) -> None:
        user = create_staff(live.app, role="supervisor", second_factor=True)
        register_passkey(live.app, user, "Work phone")
        register_passkey(live.app, user, "YubiKey")
        live.login_as(user)
        listed = live.json("mfa", "passkeys")
        assert [p["name"] for p in listed] == ["Work phone", "YubiKey"]
        assert "YubiKey" in live.ok("mfa", "passkeys").stdout
        live.clock.advance(seconds=live.app.state.context.settings.step_up_max_age_s + 1)
        assert "step-up" in live.refused("mfa", "remove-passkey", "YubiKey")
        live.ok("mfa", "step-up", "--code", second_factor_code(live.app, user))
        assert "no passkey called Laptop" in live.refused("mfa", "remove-passkey", "Laptop")
        assert "removed" in live.ok("mfa", "remove-passkey", "YubiKey").stdout
        assert [p["name"] for p in live.json("mfa", "passkeys")] == ["Work phone"]
