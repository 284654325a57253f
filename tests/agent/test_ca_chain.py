"""Following the device CA through rotations (docs/device-protocol.md §1.1): a new CA is
trusted only through a link issued by a CA the device trusts; a replaced CA still vouches for
what it issued before, until that expires; and the agent, against the server in process, runs
commands across a rotation, takes its certificate from the new CA, and a device enrols with a
QR code made before the rotation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device_agent import ca_chain
from device_agent.agent import Agent
from device_agent.ca_chain import CAChainError, TrustedCAs
from device_agent.commands import Signers
from device_agent.enrolment import enrol
from device_agent.errors import PinMismatchError
from device_agent.executor import poll_once
from device_agent.identity import fingerprint
from device_agent.payload import EnrolmentPayload
from device_agent.platform.factory import open_platform
from device_agent.renewal import take_certificate
from device_agent.state import CA_FILE, CERT_FILE, AgentState
from mdm_server.crypto import ca_rotation, command_rotation
from mdm_server.crypto.ca import DeviceCA
from mdm_server.crypto.command_signing import SIGNER_NAME
from mdm_server.crypto.keystore import KeyStore
from mdm_server.scheduler.jobs import renew_device_certificates
from tests.agent.test_secure_side import Device, run
from tests.factories.commands import send
from tests.factories.enrolment import create_token

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DEVICE_ID = "0b6c2f7e-0000-4000-8000-000000000001"


def issued_by(ca: DeviceCA, *, at: datetime, days: int = 365) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = ca.issue_signer(key.public_key(), name=SIGNER_NAME, now=at, days=days)
    return x509.load_pem_x509_certificate(pem.encode())


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


@pytest.fixture
def rotated(keys: KeyStore) -> tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]:
    """The first CA, the one a rotation an hour later made, and the published links."""
    old = DeviceCA.load_or_create(keys, now=NOW, name=ca_rotation.CA_NAME)
    new = ca_rotation.rotate(keys, now=NOW + timedelta(hours=1)).ca
    links = ca_rotation.RotatingDeviceCA.load_or_create(keys, now=NOW).published_links()
    return old, new, links


class TestFollow:
    def test_a_link_from_the_trusted_ca_moves_trust_and_retires_the_old_ca(
        self, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, links = rotated
        cas = TrustedCAs.of(old.certificate_pem).follow(links, new.certificate_pem)
        assert [ca.sha256 for ca in cas.cas] == [old.fingerprint_sha256, new.fingerprint_sha256]
        assert cas.cas[0].retired_at == NOW + timedelta(hours=1)
        assert cas.current.retired_at is None
        cas.vouches_for(issued_by(new, at=NOW + timedelta(hours=2)), now=NOW + timedelta(hours=2))

    def test_a_device_off_through_two_rotations_follows_both_links(
        self, keys: KeyStore, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, _, _ = rotated
        newest = ca_rotation.rotate(keys, now=NOW + timedelta(hours=3)).ca
        links = ca_rotation.RotatingDeviceCA.load_or_create(keys, now=NOW).published_links()
        cas = TrustedCAs.of(old.certificate_pem).follow(links, newest.certificate_pem)
        assert len(cas.cas) == 3 and cas.current.sha256 == newest.fingerprint_sha256

    def test_a_link_signed_by_another_key_is_refused(
        self, tmp_path: Path, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, links = rotated
        # A CA with the same name as the pinned one, but not its key.
        impostor = DeviceCA.load_or_create(
            KeyStore(tmp_path / "impostor"), now=NOW, name=ca_rotation.CA_NAME
        )
        forged = impostor.cross_certify(new.certificate, now=NOW)
        (link,) = links
        altered = [{**link, "link": forged.public_bytes(serialization.Encoding.PEM).decode()}]
        with pytest.raises(CAChainError, match="not issued by it"):
            TrustedCAs.of(old.certificate_pem).follow(altered, new.certificate_pem)

    def test_a_new_ca_without_a_link_is_refused(
        self, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, _ = rotated
        with pytest.raises(CAChainError, match="no link leads on"):
            TrustedCAs.of(old.certificate_pem).follow([], new.certificate_pem)

    def test_a_link_to_another_ca_than_its_certificate_is_refused(
        self, tmp_path: Path, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, _, links = rotated
        other = DeviceCA.load_or_create(KeyStore(tmp_path / "other"), now=NOW, name="Other CA")
        (link,) = links
        swapped = [
            {**link, "certificate": other.certificate_pem, "sha256": other.fingerprint_sha256}
        ]
        with pytest.raises(CAChainError, match="not issued by it"):
            TrustedCAs.of(old.certificate_pem).follow(swapped, other.certificate_pem)


class TestRetiredCA:
    def test_the_old_ca_vouches_for_what_it_issued_until_that_expires(
        self, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, links = rotated
        cas = TrustedCAs.of(old.certificate_pem).follow(links, new.certificate_pem)
        before = issued_by(old, at=NOW, days=30)
        cas.vouches_for(before, now=NOW + timedelta(days=29))
        with pytest.raises(CAChainError, match="not currently valid"):
            cas.vouches_for(before, now=NOW + timedelta(days=31))

    def test_the_old_ca_is_not_believed_for_what_it_signs_after_it_was_replaced(
        self, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, links = rotated
        cas = TrustedCAs.of(old.certificate_pem).follow(links, new.certificate_pem)
        after = issued_by(old, at=NOW + timedelta(days=2))
        with pytest.raises(CAChainError, match="after it was replaced"):
            cas.vouches_for(after, now=NOW + timedelta(days=2))

    def test_a_certificate_from_a_ca_never_linked_is_refused(
        self, tmp_path: Path, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, _, _ = rotated
        stranger = DeviceCA.load_or_create(KeyStore(tmp_path / "s"), now=NOW, name="Stranger")
        with pytest.raises(CAChainError, match="not issued by a device CA this device trusts"):
            TrustedCAs.of(old.certificate_pem).vouches_for(issued_by(stranger, at=NOW), now=NOW)

    def test_the_trusted_cas_are_kept_across_restarts(
        self, tmp_path: Path, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, links = rotated
        state = AgentState(tmp_path / "agent")
        state.write(CA_FILE, old.certificate_pem.encode())
        published = {"certificate": new.certificate_pem, "ca_links": links}
        ca_chain.follow_published(state, published)
        kept = ca_chain.load(state)
        assert [ca.retired_at for ca in kept.cas] == [NOW + timedelta(hours=1), None]
        assert state.read(CA_FILE).decode() == new.certificate_pem


class TestFromPinned:
    def test_a_qr_code_made_before_the_rotation_follows_the_link(
        self, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        old, new, links = rotated
        published = {"certificate": new.certificate_pem, "ca_links": links}
        cas = ca_chain.from_pinned(old.fingerprint_sha256, published)
        assert cas.current.sha256 == new.fingerprint_sha256

    def test_a_pin_no_link_leads_from_is_refused(
        self, tmp_path: Path, rotated: tuple[DeviceCA, DeviceCA, list[dict[str, Any]]]
    ) -> None:
        _, new, links = rotated
        other = DeviceCA.load_or_create(KeyStore(tmp_path / "other"), now=NOW, name="Other CA")
        published = {"certificate": new.certificate_pem, "ca_links": links}
        with pytest.raises(PinMismatchError, match="not the pinned one"):
            ca_chain.from_pinned(other.fingerprint_sha256, published)


class TestAgainstTheServer:
    """The agent against the server in process, across a device CA rotation."""

    def rotate(self, device: Device) -> ca_rotation.CARotation:
        context = device.app.state.context
        now = context.clock()
        rotation = ca_rotation.rotate(context.keys, now=now)
        command_rotation.rotate(
            context.keys, ca=context.cas, issuer=context.settings.public_url, now=now
        )
        return rotation

    def lock(self, device: Device, agent: Agent) -> dict[str, Any]:
        command = send(device.client, device.admin, agent.record.device_id, "lock_device")
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome["command_id"] == command["id"]
        return dict(outcome)

    def test_commands_run_across_a_rotation_and_the_agent_takes_its_new_certificate(
        self, offline_device: Device
    ) -> None:
        agent = offline_device.agent()
        context = offline_device.app.state.context
        try:
            old_ca = fingerprint(offline_device.state.read(CA_FILE).decode())
            assert self.lock(offline_device, agent)["result"] == "succeeded"
            rotation = self.rotate(offline_device)
            assert self.lock(offline_device, agent)["result"] == "succeeded"
            signer = x509.load_pem_x509_certificate(
                offline_device.state.read("command-signing.pem")
            )
            assert signer.issuer == context.ca.certificate.subject  # the new CA's signer
            assert fingerprint(offline_device.state.read(CA_FILE).decode()) == rotation.sha256

            later = context.clock() + timedelta(seconds=1)  # the job's next run
            assert renew_device_certificates(context, later) == {"renewed": 1}
            run(agent.check_in())
            held = x509.load_pem_x509_certificate(offline_device.state.read(CERT_FILE))
            assert held.issuer == context.ca.certificate.subject
            assert agent.identity.certificate_pem == offline_device.state.read(CERT_FILE).decode()
            assert self.lock(offline_device, agent)["result"] == "succeeded"
            assert old_ca != rotation.sha256
        finally:
            agent.close()

    def test_a_certificate_from_an_unlinked_ca_is_not_taken(
        self, offline_device: Device, tmp_path: Path
    ) -> None:
        agent = offline_device.agent()
        try:
            held = offline_device.state.read(CERT_FILE).decode()
            stranger = DeviceCA.load_or_create(KeyStore(tmp_path / "s"), now=NOW, name="Rogue")
            key = agent.identity.key.public_key()
            rogue = stranger.certify(
                key,
                device_id=uuid.UUID(agent.identity.device_id),
                now=datetime.now(UTC),
                days=30,
            )

            async def offer() -> None:
                async with agent.client() as client:
                    agent.identity = await take_certificate(
                        agent.state,
                        agent.identity,
                        {"certificate": rogue.pem},
                        client,
                        now=datetime.now(UTC),
                    )

            run(offer())
            assert offline_device.state.read(CERT_FILE).decode() == held
            assert agent.identity.certificate_pem == held
        finally:
            agent.close()

    def test_a_device_enrols_after_the_rotation_with_a_qr_code_made_before_it(
        self, offline_device: Device, tmp_path: Path
    ) -> None:
        before = create_token(offline_device.client, offline_device.admin)
        rotation = self.rotate(offline_device)
        after = create_token(offline_device.client, offline_device.admin)
        assert after["payload"]["ca_sha256"] == rotation.sha256  # new QR codes pin the new CA
        assert before["payload"]["ca_sha256"] == rotation.previous_sha256
        state = AgentState(tmp_path / "late")
        run(
            enrol(
                EnrolmentPayload.parse(json.dumps(before["payload"])),
                state=state,
                platform=open_platform("virtual:SM-T580", state.directory),
                transport=httpx.ASGITransport(app=offline_device.app),
            )
        )
        assert fingerprint(state.read(CA_FILE).decode()) == rotation.sha256
        assert Signers(state).kid is not None
        agent = offline_device.agent(state)
        try:
            assert self.lock(offline_device, agent)["result"] == "succeeded"
        finally:
            agent.close()
