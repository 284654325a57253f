"""Rotating the master key under a running server's context, on SQLite and PostgreSQL: every
secret rewrapped in batches, resumable after an interruption, nothing rewrapped twice, the old
key file gone at the end, and the running server wrapping and unwrapping throughout."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from mdm_server.audit.models import AuditEvent
from mdm_server.auth import factors, sso
from mdm_server.auth.models import SecondFactor, StaffUser
from mdm_server.config import Settings
from mdm_server.context import AppContext
from mdm_server.crypto.master import KEY_FILE, MasterKey, key_files, key_id_of
from mdm_server.db import Database
from mdm_server.devices.models import Device
from mdm_server.main import create_app
from mdm_server.ops import master_rotation
from mdm_server.secure import keys as container_keys
from mdm_server.secure.models import ContainerKey
from tabard.cli import app as cli
from tests.conftest import FakeClock
from tests.factories.secure import device_with_container_key
from tests.factories.staff import context_of, create_staff

DEVICES = 5


def _device(context: AppContext) -> uuid.UUID:
    """A device holding a container key wrapped by the running server."""
    return device_with_container_key(context)[0]


def _sso_account(app: FastAPI) -> uuid.UUID:
    context = context_of(app)
    user = create_staff(app, role="supervisor")
    with context.database.unit_of_work() as session:
        stored = session.get(StaffUser, user.id)
        assert stored is not None
        stored.oidc_issuer, stored.oidc_subject = "https://idp.example", f"sub-{user.id}"
        session.add(stored)
    with context.database.unit_of_work() as session:
        sso.keep_refresh(session, keys=context.master_key, user_id=user.id, refresh_token="rt-1")
    return user.id


@pytest.fixture
def running(tmp_path: Path, committed_database: Database, clock: FakeClock) -> FastAPI:
    """A server's app (its context loaded once, as at start) with secrets of every kind."""
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        scheduler_enabled=False,
    )
    app = create_app(settings, database=committed_database, clock=clock)
    context = context_of(app)
    for _ in range(DEVICES):
        _device(context)
    create_staff(app, role="it_admin", second_factor=True)
    create_staff(app, role="auditor", second_factor=True)
    _sso_account(app)
    return app


def _blobs(context: AppContext) -> list[tuple[bytes, bytes]]:
    """Every wrapped secret in the database, with what it is bound to."""
    with context.database.unit_of_work(write=False) as session:
        found = [
            (k.wrapped, container_keys.bound_to(k))
            for k in session.exec(select(ContainerKey)).all()
            if k.wrapped is not None
        ]
        found += [
            (f.secret_wrapped, factors.binding(f.user_id))
            for f in session.exec(select(SecondFactor)).all()
        ]
        for user in session.exec(select(StaffUser)).all():
            if user.oidc_refresh_wrapped and user.oidc_issuer and user.oidc_subject:
                found.append(
                    (user.oidc_refresh_wrapped, sso.bound(user.oidc_issuer, user.oidc_subject))
                )
    return found


def _rotate(context: AppContext, **options: Any) -> master_rotation.Outcome:
    return master_rotation.rotate(
        context.database,
        context.settings.keys_dir,
        batch=options.pop("batch", 2),
        now=lambda: datetime.now(UTC),
        **options,
    )


class TestRotateMaster:
    def test_interrupted_after_one_batch_it_carries_on_and_retires_the_old_key(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        keys_dir = context.settings.keys_dir
        secrets_before = {
            bound: context.master_key.unwrap(blob, bound_to=bound)
            for blob, bound in _blobs(context)
        }
        derived = context.master_key.derive(b"tabard/test")

        first = _rotate(context, max_batches=1)
        midway = master_rotation.status(context.database, keys_dir)
        _device(context)  # the running server wraps a new secret meanwhile
        second = _rotate(context)

        assert not first.finished and first.rewrapped == 2
        assert midway.in_progress and midway.key_ids == [1, 2]
        assert midway.remaining == len(secrets_before) - 2
        assert second.finished and second.resumed and second.retired == [1]
        # Nothing rewrapped twice: the second run rewrapped only what the first left.
        assert second.rewrapped == len(secrets_before) - first.rewrapped
        assert list(key_files(keys_dir)) == [2]
        assert not (keys_dir / KEY_FILE).exists()
        fresh = MasterKey.load(keys_dir)  # as a server started now would load it
        blobs = _blobs(context)
        assert len(blobs) == len(secrets_before) + 1
        assert all(key_id_of(blob) == 2 for blob, _ in blobs)
        for blob, bound in blobs:
            assert fresh.unwrap(blob, bound_to=bound) == context.master_key.unwrap(
                blob, bound_to=bound
            )
            if bound in secrets_before:
                assert fresh.unwrap(blob, bound_to=bound) == secrets_before[bound]
        assert fresh.derive(b"tabard/test") == derived
        assert context.keys.problems() == [] and context.master_key.problems() == []
        after = master_rotation.status(context.database, keys_dir)
        assert not after.in_progress and after.remaining == 0
        with TestClient(running) as client:
            assert client.get("/api/v1/ready").status_code == 200

    def test_the_running_server_wraps_under_the_new_key_from_its_start(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        _rotate(context, max_batches=1)
        device_id = _device(context)
        with context.database.unit_of_work(write=False) as session:
            key = session.exec(
                select(ContainerKey).where(ContainerKey.device_id == device_id)
            ).one()
        assert key.wrapped is not None and key_id_of(key.wrapped) == 2

    def test_a_second_rotation_retires_the_second_key_and_derived_keys_hold(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        derived = context.master_key.derive(b"tabard/test")
        _rotate(context)
        third = _rotate(context)
        keys_dir = context.settings.keys_dir
        assert third.new_key == 3 and third.retired == [2] and not third.resumed
        assert list(key_files(keys_dir)) == [3]
        fresh = MasterKey.load(keys_dir)
        assert fresh.derive(b"tabard/test") == derived
        assert all(fresh.unwrap(b, bound_to=bound) for b, bound in _blobs(context))

    def test_the_rotation_is_on_the_audit_record(self, running: FastAPI) -> None:
        context = context_of(running)
        _rotate(context)
        with context.database.unit_of_work(write=False) as session:
            actions = [e.action for e in session.exec(select(AuditEvent)).all()]
        assert actions.count("keys.master_rotation_started") == 1
        assert actions.count("keys.master_rotated") == 1

    def test_a_secret_no_key_opens_stops_it_before_anything_is_retired(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        with context.database.unit_of_work() as session:
            key = session.exec(select(ContainerKey)).first()
            assert key is not None and key.wrapped is not None
            key.wrapped = key.wrapped[:-1] + bytes([key.wrapped[-1] ^ 1])
            session.add(key)
        with pytest.raises(master_rotation.RotationError, match="container keys"):
            _rotate(context)
        assert list(key_files(context.settings.keys_dir)) == [1, 2]

    def test_killed_after_a_batch_it_carries_on_without_rewrapping_twice(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        total = len(_blobs(context))

        def killed(_: int) -> None:
            raise KeyboardInterrupt  # Ctrl+C once the first batch has committed

        with pytest.raises(KeyboardInterrupt):
            _rotate(context, advance=killed)
        midway = master_rotation.status(context.database, context.settings.keys_dir)
        carried_on = _rotate(context)

        assert midway.in_progress and midway.remaining == total - 2
        assert carried_on.finished and carried_on.resumed
        assert carried_on.rewrapped == total - 2
        assert list(key_files(context.settings.keys_dir)) == [2]

    def test_secrets_wrapped_while_it_runs_are_all_under_the_new_key(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        stop, made = threading.Event(), []

        def enrolling() -> None:
            while not stop.is_set():
                made.append(_device(context))

        enrolments = threading.Thread(target=enrolling)
        enrolments.start()
        try:
            outcome = _rotate(context, batch=1)
        finally:
            stop.set()
            enrolments.join()

        fresh = MasterKey.load(context.settings.keys_dir)  # the old key is gone
        blobs = _blobs(context)
        assert outcome.finished and made
        assert len(blobs) == DEVICES + len(made) + 3
        for blob, bound in blobs:
            assert fresh.unwrap(blob, bound_to=bound)

    def test_waits_for_a_transaction_that_wrapped_under_the_old_key_before_it_began(
        self, running: FastAPI
    ) -> None:
        context = context_of(running)
        keys_dir = context.settings.keys_dir
        wrapped, release = threading.Event(), threading.Event()
        made: list[uuid.UUID] = []

        def enrolling_slowly() -> None:
            with context.database.unit_of_work() as session:
                device = Device(
                    serial="R58MSLOW0001",
                    manufacturer="samsung",
                    model="SM-J510FN",
                    android_version="7.1.1",
                    sdk=25,
                    group_name="response",
                    enrolled_at=context.clock(),
                )
                session.add(device)
                session.flush()
                container_keys.live_or_new_key(
                    session, device_id=device.id, master=context.master_key, now=context.clock()
                )
                made.append(device.id)
                wrapped.set()
                release.wait()

        # The transaction ends once the rotation waits for it, or, were it not to wait, once
        # its one batch of container keys has gone by without the new one.
        outcomes: list[master_rotation.Outcome] = []
        rotation = threading.Thread(
            target=lambda: outcomes.append(
                _rotate(context, batch=100, waiting=release.set, advance=lambda _: release.set())
            )
        )
        enrolment = threading.Thread(target=enrolling_slowly)
        enrolment.start()
        try:
            assert wrapped.wait(timeout=60)
            rotation.start()
            rotation.join()
        finally:
            release.set()
            enrolment.join()

        (outcome,) = outcomes
        with context.database.unit_of_work(write=False) as session:
            key = session.exec(select(ContainerKey).where(ContainerKey.device_id == made[0])).one()
        assert outcome.finished and list(key_files(keys_dir)) == [2]
        assert key.wrapped is not None and key_id_of(key.wrapped) == 2
        assert MasterKey.load(keys_dir).unwrap(key.wrapped, bound_to=container_keys.bound_to(key))


class TestCommands:
    @pytest.fixture
    def runner(self, running: FastAPI, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
        """`tabard` on the server host, with the running server's settings."""
        context = context_of(running)
        url = context.database.engine.url.render_as_string(hide_password=False)
        monkeypatch.setenv("TABARD_DATA_DIR", str(context.settings.data_dir))
        monkeypatch.setenv("TABARD_DATABASE_URL", url)
        return CliRunner()

    def test_rotate_stopped_then_carried_on_with_status_between(self, runner: CliRunner) -> None:
        total = DEVICES + 3
        rotate = ["keys", "rotate", "master"]
        stopped = runner.invoke(cli, [*rotate, "--batch", "2", "--max-batches", "1"])
        midway = runner.invoke(cli, ["keys", "status"])
        midway_json = runner.invoke(cli, ["keys", "status", "--json"])
        finished = runner.invoke(cli, [*rotate, "--json"])
        after = runner.invoke(cli, ["keys", "status", "--json"])

        assert stopped.exit_code == 0, stopped.output
        assert "Not finished" in stopped.stdout and "tabard keys rotate master" in stopped.stdout
        assert "rotation under way" in midway.stdout and "retiring" in midway.stdout
        assert json.loads(midway_json.stdout)["master"]["remaining"] == total - 2
        assert finished.exit_code == 0, finished.output
        done = json.loads(finished.stdout)
        assert done["finished"] and done["resumed"] and done["retired"] == [1]
        assert done["rewrapped"] == total - 2
        assert json.loads(after.stdout)["master"] == {
            "keys": [2],
            "current": 2,
            "secrets": {"2": total},
            "remaining": 0,
            "rotation_in_progress": False,
        }

    def test_refuses_a_data_directory_without_a_master_key(
        self, runner: CliRunner, running: FastAPI
    ) -> None:
        for path in key_files(context_of(running).settings.keys_dir).values():
            path.unlink()
        refused = runner.invoke(cli, ["keys", "rotate", "master"])
        assert refused.exit_code == 1
        assert "holds no master key" in refused.stderr and "Traceback" not in refused.output
