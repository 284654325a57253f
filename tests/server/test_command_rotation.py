"""Rotating the command-signing key while the server runs: the generations on disk, the
running signer following them, the handovers published at /api/v1/ca, and
`tabard keys rotate command-signing` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mdm_server.config import Settings
from mdm_server.crypto.ca import DeviceCA, fingerprint
from mdm_server.crypto.command_rotation import (
    HandoverError,
    RotatingCommandSigner,
    generation_files,
    rotate,
    sign_handover,
    verify_handover,
)
from mdm_server.crypto.command_signing import SIGNER_NAME, CommandSigner
from mdm_server.crypto.keystore import KeyStore, write_private_file
from mdm_server.db import Database
from tabard.cli import app as cli
from tests.conftest import FakeClock
from tests.factories.commands import delivered, open_envelope, send
from tests.support import audit_events

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ISSUER = "https://tabard.test"


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


@pytest.fixture
def ca(keys: KeyStore) -> DeviceCA:
    return DeviceCA.load_or_create(keys, now=NOW, name="Tabard Device CA")


def running(keys: KeyStore, ca: DeviceCA) -> RotatingCommandSigner:
    return RotatingCommandSigner.load_or_create(keys, ca=ca, issuer=ISSUER, now=NOW)


def certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


class TestRotate:
    def test_a_rotation_adds_a_generation_and_changes_no_file_the_server_loaded(
        self, keys: KeyStore, ca: DeviceCA
    ) -> None:
        signer = running(keys, ca)
        before = signer.current().certificate_pem
        rotation = rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        assert rotation.generation == 1
        assert rotation.previous_sha256 == fingerprint(certificate(before))
        for name in generation_files(1):
            assert name is not None
            assert keys.path(name).stat().st_mode & 0o077 == 0
        assert keys.problems() == []  # readiness stays green

    def test_the_running_signer_follows_without_a_restart(
        self, keys: KeyStore, ca: DeviceCA
    ) -> None:
        signer = running(keys, ca)
        rotation = rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        assert signer.fingerprint_sha256 == rotation.sha256
        assert signer.generation == 1
        new = certificate(signer.certificate_pem)
        new.verify_directly_issued_by(ca.certificate)
        assert f"CN={SIGNER_NAME}" in new.subject.rfc4514_string()
        assert keys.problems() == []

    def test_each_handover_is_signed_by_the_key_before_it(
        self, keys: KeyStore, ca: DeviceCA
    ) -> None:
        signer = running(keys, ca)
        first = certificate(signer.current().certificate_pem)
        rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        current, handovers = signer.published()
        assert signer.generation == 2 and len(handovers) == 2
        outgoing = first
        for generation, statement in enumerate(handovers, start=1):
            claims = verify_handover(statement, outgoing=outgoing)
            assert claims["generation"] == generation
            assert jwt.get_unverified_header(statement)["kid"] == fingerprint(outgoing)
            outgoing = certificate(claims["certificate"])
        assert fingerprint(outgoing) == fingerprint(certificate(current))

    def test_a_fresh_start_signs_with_the_newest_generation(
        self, keys: KeyStore, ca: DeviceCA
    ) -> None:
        running(keys, ca)
        rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        second = rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        restarted = running(KeyStore(keys.directory), ca)
        assert (restarted.generation, restarted.fingerprint_sha256) == (2, second.sha256)
        assert len(restarted.published()[1]) == 2

    def test_a_rotation_cut_short_before_its_handover_is_ignored_then_redone(
        self, keys: KeyStore, ca: DeviceCA
    ) -> None:
        signer = running(keys, ca)
        key_file, cert_file, _ = generation_files(1)
        write_private_file(keys.path(key_file), b"left over")
        write_private_file(keys.path(cert_file), b"left over")
        assert signer.generation == 0 and signer.current() is not None
        rotation = rotate(keys, ca=ca, issuer=ISSUER, now=NOW)
        assert (rotation.generation, signer.fingerprint_sha256) == (1, rotation.sha256)

    def test_a_handover_not_signed_by_the_key_in_use_is_not_followed(
        self, keys: KeyStore, ca: DeviceCA
    ) -> None:
        signer = running(keys, ca)
        held = signer.fingerprint_sha256
        stranger_key = ec.generate_private_key(ec.SECP256R1())
        stranger = CommandSigner(
            stranger_key,
            ca.issue_signer(stranger_key.public_key(), name=SIGNER_NAME, now=NOW, days=30),
            issuer=ISSUER,
        )
        key = ec.generate_private_key(ec.SECP256R1())
        pem = ca.issue_signer(key.public_key(), name=SIGNER_NAME, now=NOW, days=30)
        key_file, cert_file, handover_file = generation_files(1)
        assert handover_file is not None
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(keys.path(key_file), key_pem)
        write_private_file(keys.path(cert_file), pem.encode())
        forged = sign_handover(stranger, pem, generation=1, now=NOW)
        write_private_file(keys.path(handover_file), forged.encode())
        assert signer.fingerprint_sha256 == held
        (problem,) = signer.problems()
        assert "generation 1 cannot be used" in problem and "not signed by the outgoing" in problem
        with pytest.raises(HandoverError, match="not signed by the outgoing key"):
            verify_handover(forged, outgoing=certificate(signer.certificate_pem))

    def test_a_generation_the_server_cannot_read_keeps_the_old_key_and_fails_readiness(
        self, client: TestClient, app: FastAPI, settings: Settings
    ) -> None:
        keys = KeyStore(settings.keys_dir)
        held = app.state.context.command_signer.fingerprint_sha256
        rotate(keys, ca=app.state.context.ca, issuer=ISSUER, now=NOW)
        ready_before = client.get("/api/v1/ready").status_code
        rotate(keys, ca=app.state.context.ca, issuer=ISSUER, now=NOW)
        key_file, _, _ = generation_files(2)
        keys.path(key_file).chmod(0o644)  # as if copied in by hand, readable by all
        answer = client.get("/api/v1/ready")
        assert (ready_before, answer.status_code) == (200, 503)
        assert answer.json()["error"] == "keys_unavailable"
        assert app.state.context.command_signer.generation == 1
        assert app.state.context.command_signer.fingerprint_sha256 != held
        keys.path(key_file).chmod(0o600)
        assert client.get("/api/v1/ready").status_code == 200
        assert app.state.context.command_signer.generation == 2


class TestPublished:
    def test_before_any_rotation_the_ca_document_has_no_handovers(self, client: TestClient) -> None:
        published = client.get("/api/v1/ca").json()
        assert published["command_handovers"] == []
        assert "command_certificate" in published

    def test_after_a_rotation_it_publishes_the_new_certificate_and_its_handover(
        self, client: TestClient, app: FastAPI, settings: Settings
    ) -> None:
        context = app.state.context
        old = client.get("/api/v1/ca").json()["command_certificate"]
        rotation = rotate(KeyStore(settings.keys_dir), ca=context.ca, issuer=ISSUER, now=NOW)
        published = client.get("/api/v1/ca").json()
        new = certificate(published["command_certificate"])
        assert fingerprint(new) == rotation.sha256
        (statement,) = published["command_handovers"]
        claims = verify_handover(statement, outgoing=certificate(old))
        assert claims["certificate"] == published["command_certificate"]
        assert client.get("/api/v1/ready").status_code == 200

    def test_envelopes_after_a_rotation_are_signed_with_the_new_key(
        self,
        client: TestClient,
        app: FastAPI,
        settings: Settings,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        send(client, admin_headers, enrolled.serial, "lock_device")
        (before,) = delivered(client, enrolled, clock)
        rotation = rotate(
            KeyStore(settings.keys_dir), ca=app.state.context.ca, issuer=ISSUER, now=NOW
        )
        send(client, admin_headers, enrolled.serial, "request_posture")
        (after,) = delivered(client, enrolled, clock)
        assert jwt.get_unverified_header(before)["kid"] == rotation.previous_sha256
        assert jwt.get_unverified_header(after)["kid"] == rotation.sha256
        claims = open_envelope(client, after, device_id=enrolled.device_id)
        assert claims["type"] == "request_posture"

    def test_a_command_whose_old_envelope_lapsed_goes_again_under_the_new_key(
        self,
        client: TestClient,
        app: FastAPI,
        settings: Settings,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "lock_device")
        delivered(client, enrolled, clock)
        rotation = rotate(
            KeyStore(settings.keys_dir), ca=app.state.context.ca, issuer=ISSUER, now=NOW
        )
        clock.advance(minutes=3)
        (again,) = delivered(client, enrolled, clock)
        assert jwt.get_unverified_header(again)["kid"] == rotation.sha256
        assert (
            open_envelope(client, again, device_id=enrolled.device_id, now=clock())["command_id"]
            == (command["id"])
        )


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
        result = runner.invoke(cli, ["keys", "rotate", "command-signing"])
        assert result.exit_code == 1
        assert "start the server once" in " ".join(result.stderr.split())

    def test_it_rotates_prints_the_new_fingerprint_and_audits_it(
        self, runner: CliRunner, committed_database: Database, tmp_path: Path
    ) -> None:
        keys = KeyStore(tmp_path / "data" / "keys")
        ca = DeviceCA.load_or_create(keys, now=NOW, name="Tabard Device CA")
        signer = running(keys, ca)
        old = signer.fingerprint_sha256
        result = runner.invoke(cli, ["keys", "rotate", "command-signing", "--json"])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert shown["generation"] == 1 and shown["previous_sha256"] == old
        assert signer.fingerprint_sha256 == shown["sha256"]
        (event,) = audit_events(committed_database, "keys.rotated")
        assert event.detail == {"generation": 1, "previous_sha256": old, "sha256": shown["sha256"]}
        words = runner.invoke(cli, ["keys", "rotate", "command-signing"])
        assert words.exit_code == 0, words.output
        assert "generation 2" in words.stdout and "{'" not in words.stdout
