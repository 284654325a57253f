"""Sign-in throttling: a guesser slowed to a crawl per account and per address, and nobody
able to lock a real person out (mdm_server.auth.throttle)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.throttle import Rules, delay_s
from tests.conftest import FakeClock
from tests.factories.staff import PASSWORD, create_staff
from tests.factories.staff import sign_in as sign_in_with_code
from tests.support import audit_events

WRONG = "not the password at all"


@contextmanager
def from_address(app: FastAPI, address: str) -> Iterator[TestClient]:
    with TestClient(app, client=(address, 50000)) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return sign_in_with_code(client, username, password)  # type: ignore[no-any-return]


def rules_of(app: FastAPI) -> Rules:
    return Rules.of(app.state.context.settings)


class TestOneAddressOnOneAccount:
    def test_after_the_free_failures_each_wait_doubles_and_even_the_password_waits(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        user = create_staff(app)
        free = rules_of(app).free_per_account
        with from_address(app, "198.51.100.7") as guesser:
            for _ in range(free):
                assert sign_in(guesser, user.username, WRONG).status_code == 401
            waiting = sign_in(guesser, user.username)  # the right password, but it must wait
            assert waiting.status_code == 429
            assert waiting.json()["error"] == "too_many_attempts"
            assert waiting.headers["Retry-After"] == "1"
            assert "try again after" in waiting.json()["detail"]
            clock.advance(seconds=1)
            assert sign_in(guesser, user.username, WRONG).status_code == 401
            assert sign_in(guesser, user.username).headers["Retry-After"] == "2"
            clock.advance(seconds=2)
            assert sign_in(guesser, user.username, WRONG).status_code == 401
            assert sign_in(guesser, user.username).headers["Retry-After"] == "4"
            clock.advance(seconds=4)
            assert sign_in(guesser, user.username).status_code == 200
            # Signing in forgives the address its failures there.
            assert sign_in(guesser, user.username, WRONG).status_code == 401
            assert sign_in(guesser, user.username).status_code == 200

    def test_a_thousand_guesses_leave_the_owner_signing_in_from_another_address(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        user = create_staff(app)
        with from_address(app, "203.0.113.66") as guesser:
            answers = [sign_in(guesser, user.username, WRONG).status_code for _ in range(1000)]
        assert answers.count(401) == rules_of(app).free_per_account
        assert answers.count(429) == 1000 - rules_of(app).free_per_account
        with from_address(app, "192.0.2.10") as owner:  # never used before
            assert sign_in(owner, user.username).status_code == 200

    def test_a_guesser_trying_whenever_allowed_gets_few_guesses_an_hour(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        """The figures docs/identity.md states: at most 20 passwords tried in the first hour,
        then 4 an hour, against one account from one address."""
        user = create_staff(app)
        tried_by_hour = [0] * 4
        start = clock()
        with from_address(app, "203.0.113.67") as guesser:
            while clock() - start < timedelta(hours=4):
                answer = sign_in(guesser, user.username, WRONG)
                if answer.status_code == 401:
                    tried_by_hour[int((clock() - start).total_seconds() // 3600)] += 1
                else:
                    assert answer.status_code == 429
                    clock.advance(seconds=int(answer.headers["Retry-After"]))
        assert tried_by_hour[0] <= 20
        assert all(tried <= 4 for tried in tried_by_hour[1:])
        assert sum(tried_by_hour) >= 20  # it is slowed, not stopped: no lockout


class TestWhoIsWho:
    def test_unknown_and_known_usernames_are_answered_alike(self, app: FastAPI) -> None:
        user = create_staff(app)

        def answers(username: str, address: str) -> list[tuple[int, str, str | None]]:
            with from_address(app, address) as client:
                replies = [sign_in(client, username, WRONG) for _ in range(8)]
            return [(r.status_code, r.text, r.headers.get("Retry-After")) for r in replies]

        assert answers(user.username, "198.51.100.20") == answers("no-such-user", "198.51.100.21")

    def test_case_does_not_give_a_guesser_fresh_attempts(self, app: FastAPI) -> None:
        user = create_staff(app)
        with from_address(app, "198.51.100.22") as guesser:
            for _ in range(rules_of(app).free_per_account):
                sign_in(guesser, user.username.upper(), WRONG)
            assert sign_in(guesser, user.username, WRONG).status_code == 429


class TestManyAccountsOrManyAddresses:
    def test_an_address_spraying_many_accounts_slows_on_every_account(self, app: FastAPI) -> None:
        rules = rules_of(app)
        target = create_staff(app)
        with from_address(app, "203.0.113.90") as sprayer:
            for number in range(rules.free_per_address):
                assert sign_in(sprayer, f"someone-{number}", WRONG).status_code == 401
            assert sign_in(sprayer, target.username).status_code == 429

    def test_an_address_that_signed_in_before_keeps_its_way_in_through_a_spray(
        self, app: FastAPI
    ) -> None:
        """A police station's staff share one address: a spray from it does not stop those
        who have signed in from it before."""
        rules = rules_of(app)
        colleague = create_staff(app)
        with from_address(app, "192.0.2.50") as station:
            assert sign_in(station, colleague.username).status_code == 200
            for number in range(rules.free_per_address):
                sign_in(station, f"someone-{number}", WRONG)
            assert sign_in(station, "someone-new", WRONG).status_code == 429
            assert sign_in(station, colleague.username).status_code == 200

    def test_a_guess_from_many_addresses_slows_new_ones_but_not_the_owners(
        self, app: FastAPI
    ) -> None:
        rules = rules_of(app)
        user = create_staff(app)
        with from_address(app, "192.0.2.77") as owner:
            assert sign_in(owner, user.username).status_code == 200
        for number in range(rules.spread):
            with from_address(app, f"203.0.113.{number + 1}") as bot:
                assert sign_in(bot, user.username, WRONG).status_code == 401
        with from_address(app, "203.0.113.200") as bot:
            assert sign_in(bot, user.username).status_code == 429  # even the right password
        with from_address(app, "192.0.2.77") as owner:
            assert sign_in(owner, user.username).status_code == 200


class TestWhatITSees:
    def test_it_sees_until_when_an_account_is_guessed_at_and_can_forgive_it(
        self, app: FastAPI, clock: FakeClock, admin_headers: dict[str, str]
    ) -> None:
        rules = rules_of(app)
        user = create_staff(app)
        with from_address(app, "198.51.100.30") as guesser:
            for _ in range(rules.free_per_account):
                sign_in(guesser, user.username, WRONG)
            with from_address(app, "192.0.2.1") as it:
                shown = it.get(f"/api/v1/users/{user.username}", headers=admin_headers).json()
                wait = delay_s(rules.free_per_account, free=rules.free_per_account, rules=rules)
                assert shown["sign_in_throttled_until"] is not None
                until = clock() + timedelta(seconds=wait)
                assert shown["sign_in_throttled_until"].startswith(until.isoformat()[:19])
                forgiven = it.post(f"/api/v1/users/{user.username}/unlock", headers=admin_headers)
                assert forgiven.status_code == 200
                assert forgiven.json()["sign_in_throttled_until"] is None
            assert sign_in(guesser, user.username).status_code == 200
        actions = [e.action for e in audit_events(app.state.context.database)]
        assert "staff_user.unlocked" in actions

    def test_each_refusal_while_waiting_is_on_the_audit_record(self, app: FastAPI) -> None:
        user = create_staff(app)
        with from_address(app, "198.51.100.31") as guesser:
            for _ in range(rules_of(app).free_per_account + 2):
                sign_in(guesser, user.username, WRONG)
        events = [
            e for e in audit_events(app.state.context.database) if e.action.startswith("auth")
        ]
        throttled = [e for e in events if e.action == "auth.login_throttled"]
        assert len(throttled) == 2
        assert throttled[0].detail["username"] == user.username
        assert throttled[0].source_ip == "198.51.100.31"


class TestMemory:
    def test_failures_are_forgotten_after_a_day_and_cleared_by_the_nightly_clean_up(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        from mdm_server.scheduler import job_named, run_job

        rules = rules_of(app)
        user = create_staff(app)
        with from_address(app, "198.51.100.40") as guesser:
            for _ in range(rules.free_per_account):
                sign_in(guesser, user.username, WRONG)
            assert sign_in(guesser, user.username).status_code == 429
            clock.advance(seconds=rules.memory_s + 1)
            context = app.state.context
            assert run_job(context, job_named(context, "cleanup"))["sign_in_clients_purged"] == 1
            assert sign_in(guesser, user.username).status_code == 200
            # The address that signed in stays known through the next night's clean-up.
            clock.advance(days=1)
            assert run_job(context, job_named(context, "cleanup"))["sign_in_clients_purged"] == 0
