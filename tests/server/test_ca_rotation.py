"""Rotating the device CA while the server runs: the generations on disk and their links, the
running server issuing from the new CA, the links published at /api/v1/ca, the renewal job
certifying devices again under the new CA, readiness, and `tabard keys rotate device-ca`
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mdm_server.config import Settings
from mdm_server.crypto import ca_rotation, command_rotation
from mdm_server.crypto.ca import DeviceCA, fingerprint
from mdm_server.crypto.ca_rotation import RotatingDeviceCA, generation_files
from mdm_server.crypto.command_rotation import RotatingCommandSigner
from mdm_server.crypto.keystore import KeyStore, write_private_file
from mdm_server.db import Database
from mdm_server.devices.renewal import renew_certificates
from mdm_server.scheduler.jobs import renew_device_certificates
from tabard.cli import app as cli
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.support import audit_events

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ISSUER = "https://tabard.test"


def certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def enrol(client: TestClient, admin_headers: dict[str, str]) -> SimulatedDevice:
    device = SimulatedDevice()
    response = device.enrol(client, create_token(client, admin_headers)["token"])
    assert response.status_code == 201, response.text
    return device


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


class TestRotate:
    def test_a_rotation_adds_a_linked_generation_and_changes_no_file_the_server_loaded(
        self, keys: KeyStore
    ) -> None:
        first = RotatingDeviceCA.load_or_create(keys, now=NOW)
        old = first.current()
        before = {p.name: p.read_bytes() for p in keys.directory.iterdir()}
        rotation = ca_rotation.rotate(keys, now=NOW + timedelta(hours=1))
        after = {p.name: p.read_bytes() for p in keys.directory.iterdir()}
        assert {name: after[name] for name in before} == before
        assert set(after) - set(before) == set(generation_files(1))
        assert keys.problems() == []
        link = x509.load_pem_x509_certificate(after["device-ca.1.link.pem"])
        assert old.issued(link)
        assert link.public_key() == rotation.ca.certificate.public_key()
        assert link.not_valid_before_utc == NOW + timedelta(hours=1)
        assert rotation.previous_sha256 == old.fingerprint_sha256
        assert rotation.ca.certificate.subject != old.certificate.subject
        # The running CA follows without a restart.
        assert first.current().fingerprint_sha256 == rotation.sha256
        assert first.since() == NOW + timedelta(hours=1)
        assert first.issued(link) and first.generation == 1

    def test_a_link_not_issued_by_the_ca_before_it_is_not_followed(
        self, keys: KeyStore, tmp_path: Path
    ) -> None:
        running = RotatingDeviceCA.load_or_create(keys, now=NOW)
        rotation = ca_rotation.rotate(keys, now=NOW)
        impostor = DeviceCA.load_or_create(KeyStore(tmp_path / "x"), now=NOW, name="Impostor")
        forged = impostor.cross_certify(rotation.ca.certificate, now=NOW)
        _, _, link_file = generation_files(1)
        assert link_file is not None
        keys.path(link_file).unlink()
        write_private_file(keys.path(link_file), forged.public_bytes(serialization.Encoding.PEM))
        fresh = RotatingDeviceCA(keys, running.generations[0])
        assert fresh.generation == 0
        (problem,) = fresh.problems()
        assert "generation 1 cannot be used" in problem and "not signed by the CA" in problem

    def test_a_command_signer_issued_by_either_generation_is_accepted(self, keys: KeyStore) -> None:
        cas = RotatingDeviceCA.load_or_create(keys, now=NOW)
        signer = RotatingCommandSigner.load_or_create(keys, ca=cas, issuer=ISSUER, now=NOW)
        ca_rotation.rotate(keys, now=NOW)
        rotation = command_rotation.rotate(keys, ca=cas, issuer=ISSUER, now=NOW)
        assert signer.fingerprint_sha256 == rotation.sha256
        assert certificate(signer.certificate_pem).issuer == cas.current().certificate.subject
        assert signer.problems() == []


class TestRunningServer:
    def test_enrolment_after_a_rotation_is_issued_by_the_new_ca_and_qr_codes_pin_it(
        self,
        client: TestClient,
        app: FastAPI,
        settings: Settings,
        admin_headers: dict[str, str],
    ) -> None:
        old = app.state.context.ca
        rotation = ca_rotation.rotate(KeyStore(settings.keys_dir), now=NOW)
        token = create_token(client, admin_headers)
        assert token["payload"]["ca_sha256"] == rotation.sha256
        device = SimulatedDevice()
        answer = device.enrol(client, token["token"]).json()
        assert fingerprint(certificate(answer["ca_certificate"])) == rotation.sha256
        assert rotation.ca.issued(certificate(answer["certificate"]))
        assert not old.issued(certificate(answer["certificate"]))
        assert client.get("/api/v1/ready").status_code == 200

    def test_a_generation_the_server_cannot_read_keeps_the_old_ca_and_fails_readiness(
        self, client: TestClient, app: FastAPI, settings: Settings
    ) -> None:
        keys = KeyStore(settings.keys_dir)
        held = app.state.context.ca.fingerprint_sha256
        ca_rotation.rotate(keys, now=NOW)
        key_file, _, _ = generation_files(1)
        keys.path(key_file).chmod(0o644)  # as if copied in by hand, readable by all
        answer = client.get("/api/v1/ready")
        assert answer.status_code == 503 and answer.json()["error"] == "keys_unavailable"
        assert app.state.context.ca.fingerprint_sha256 == held
        keys.path(key_file).chmod(0o600)
        assert client.get("/api/v1/ready").status_code == 200
        assert app.state.context.ca.fingerprint_sha256 != held


class TestPublished:
    def test_before_any_rotation_there_are_no_links(self, client: TestClient) -> None:
        published = client.get("/api/v1/ca").json()
        assert published["ca_links"] == []
        assert fingerprint(certificate(published["certificate"])) == published["sha256"]

    def test_after_a_rotation_it_publishes_the_new_ca_and_the_link_from_the_old(
        self, client: TestClient, settings: Settings
    ) -> None:
        old = client.get("/api/v1/ca").json()
        rotation = ca_rotation.rotate(KeyStore(settings.keys_dir), now=NOW)
        published = client.get("/api/v1/ca").json()
        assert published["sha256"] == rotation.sha256
        assert fingerprint(certificate(published["certificate"])) == rotation.sha256
        (link,) = published["ca_links"]
        assert link["generation"] == 1
        assert link["previous_certificate"] == old["certificate"]
        assert link["previous_sha256"] == old["sha256"]
        assert (link["certificate"], link["sha256"]) == (
            published["certificate"],
            published["sha256"],
        )
        cross = certificate(link["link"])
        cross.verify_directly_issued_by(certificate(old["certificate"]))
        assert cross.public_key() == certificate(published["certificate"]).public_key()


class TestRenewal:
    def test_the_job_certifies_again_under_the_new_ca_every_device_the_old_one_certified(
        self,
        client: TestClient,
        app: FastAPI,
        settings: Settings,
        admin_headers: dict[str, str],
        database: Database,
        clock: FakeClock,
    ) -> None:
        devices = [enrol(client, admin_headers) for _ in range(3)]
        context = app.state.context
        assert renew_device_certificates(context, clock()) == {"renewed": 0}  # none near expiry
        rotation = ca_rotation.rotate(KeyStore(settings.keys_dir), now=clock())
        clock.advance(seconds=1)
        # In batches: one device at a time here, each batch its own transaction.
        for _ in range(3):
            with database.unit_of_work() as session:
                done = renew_certificates(
                    session,
                    ca=context.ca,
                    days=settings.device_certificate_days,
                    window=timedelta(days=settings.device_certificate_renew_days),
                    now=clock(),
                    limit=1,
                    ca_since=context.cas.since(),
                )
            assert done == 1
        assert renew_device_certificates(context, clock()) == {"renewed": 0}
        events = audit_events(database, "device.certificate_renewed")
        assert [e.detail["reason"] for e in events] == ["ca_rotated"] * 3
        assert {e.detail["ca_sha256"] for e in events} == {rotation.sha256}
        for device in devices:
            answer = device.checkin(client, now=clock()).json()
            assert rotation.ca.issued(certificate(answer["certificate"]))
            assert certificate(answer["certificate"]).public_key() == device.key.public_key()

    def test_without_a_rotation_the_check_in_offers_the_certificate_held(
        self, client: TestClient, enrolled: Any, clock: FakeClock
    ) -> None:
        answer = enrolled.checkin(client, now=clock()).json()
        assert answer["certificate"] == enrolled.certificate


class TestRotateCommand:
    @pytest.fixture
    def runner(
        self, committed_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> CliRunner:
        url = committed_database.engine.url.render_as_string(hide_password=False)
        monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("TABARD_DATABASE_URL", url)
        monkeypatch.setenv("TABARD_PUBLIC_URL", ISSUER)
        return CliRunner()

    def test_before_the_server_made_its_keys_it_says_to_start_it(self, runner: CliRunner) -> None:
        result = runner.invoke(cli, ["keys", "rotate", "device-ca"])
        assert result.exit_code == 1
        assert "start the server once" in " ".join(result.stderr.split())

    def test_it_rotates_the_ca_and_the_command_signer_it_issued_and_audits_both(
        self, runner: CliRunner, committed_database: Database, tmp_path: Path
    ) -> None:
        keys = KeyStore(tmp_path / "data" / "keys")
        cas = RotatingDeviceCA.load_or_create(keys, now=NOW)
        signer = RotatingCommandSigner.load_or_create(keys, ca=cas, issuer=ISSUER, now=NOW)
        old_ca, old_signer = cas.current().fingerprint_sha256, signer.fingerprint_sha256
        result = runner.invoke(cli, ["keys", "rotate", "device-ca", "--json"])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert (shown["key"], shown["generation"]) == ("device-ca", 1)
        assert shown["previous_sha256"] == old_ca
        assert cas.current().fingerprint_sha256 == shown["sha256"]
        assert signer.fingerprint_sha256 == shown["command_signing"]["sha256"]
        assert cas.current().issued(certificate(signer.certificate_pem))
        events = audit_events(committed_database, "keys.rotated")
        assert [(e.target_id, e.detail["previous_sha256"]) for e in events] == [
            ("device-ca", old_ca),
            ("command-signing", old_signer),
        ]
        words = runner.invoke(cli, ["keys", "rotate", "device-ca"])
        assert words.exit_code == 0, words.output
        assert "generation 2" in words.stdout and "{'" not in words.stdout
        signer.current()
        assert cas.generation == 2 and signer.generation == 2

    def test_run_again_after_an_interruption_it_carries_on_with_the_same_new_ca(
        self, runner: CliRunner, committed_database: Database, tmp_path: Path
    ) -> None:
        keys = KeyStore(tmp_path / "data" / "keys")
        cas = RotatingDeviceCA.load_or_create(keys, now=NOW)
        signer = RotatingCommandSigner.load_or_create(keys, ca=cas, issuer=ISSUER, now=NOW)
        cut_short = ca_rotation.rotate(keys, now=NOW)  # the CA made, the signer not yet moved
        result = runner.invoke(cli, ["keys", "rotate", "device-ca", "--json"])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert (shown["generation"], shown["sha256"]) == (1, cut_short.sha256)
        assert cas.generation == 1
        assert cut_short.ca.issued(certificate(signer.certificate_pem))
        events = audit_events(committed_database, "keys.rotated")
        assert [(e.target_id, e.detail["generation"]) for e in events] == [
            ("device-ca", 1),
            ("command-signing", 1),
        ]

    def test_a_command_signing_rotation_after_it_is_issued_by_the_new_ca(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        keys = KeyStore(tmp_path / "data" / "keys")
        cas = RotatingDeviceCA.load_or_create(keys, now=NOW)
        signer = RotatingCommandSigner.load_or_create(keys, ca=cas, issuer=ISSUER, now=NOW)
        assert runner.invoke(cli, ["keys", "rotate", "device-ca"]).exit_code == 0
        result = runner.invoke(cli, ["keys", "rotate", "command-signing", "--json"])
        assert result.exit_code == 0, result.output
        assert signer.fingerprint_sha256 == json.loads(result.stdout)["sha256"]
        assert cas.current().issued(certificate(signer.certificate_pem))
        assert signer.problems() == []
