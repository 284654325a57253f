"""Following the command-signing key through rotations (docs/device-protocol.md §8.1): a new
signer is trusted only if the pinned CA issued it and handovers, each signed by the key
before, lead to it from the signer the device holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from device_agent.agent import Agent
from device_agent.commands import PREVIOUS_FILE, EnvelopeRefusedError, Signers
from device_agent.executor import poll_once
from device_agent.signer_chain import SignerChainError, follow
from device_agent.state import CA_FILE, AgentState
from mdm_server.crypto.ca import DeviceCA
from mdm_server.crypto.command_rotation import HANDOVER_TYPE, rotate, sign_handover
from mdm_server.crypto.command_signing import SIGNER_NAME, CommandSigner, EnvelopeClaims
from mdm_server.crypto.keystore import KeyStore
from tests.agent.test_secure_side import Device, run
from tests.factories.commands import send

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ISSUER = "https://tabard.test"
DEVICE = uuid.uuid4()


def new_ca(directory: Path, name: str = "Tabard Device CA") -> DeviceCA:
    return DeviceCA.load_or_create(KeyStore(directory), now=NOW, name=name)


def new_signer(ca: DeviceCA, *, name: str = SIGNER_NAME) -> CommandSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = ca.issue_signer(key.public_key(), name=name, now=NOW, days=365)
    return CommandSigner(key, pem, issuer=ISSUER)


def forged_handover(forger: CommandSigner, outgoing: CommandSigner, incoming: CommandSigner) -> str:
    """A handover claiming to come from `outgoing`, signed by `forger`'s key."""
    claims = {
        "iss": ISSUER,
        "generation": 1,
        "previous": outgoing.fingerprint_sha256,
        "next": incoming.fingerprint_sha256,
        "certificate": incoming.certificate_pem,
        "iat": int(NOW.timestamp()),
    }
    headers = {"typ": HANDOVER_TYPE, "kid": outgoing.fingerprint_sha256}
    return jwt.encode(claims, forger._key, algorithm="ES256", headers=headers)


@pytest.fixture
def ca(tmp_path: Path) -> DeviceCA:
    return new_ca(tmp_path / "ca")


@pytest.fixture
def chain(ca: DeviceCA) -> tuple[list[CommandSigner], list[str]]:
    """Three generations, old -> mid -> new, and the two handovers between them."""
    signers = [new_signer(ca) for _ in range(3)]
    handovers = [
        sign_handover(signers[0], signers[1].certificate_pem, generation=1, now=NOW),
        sign_handover(
            signers[1], signers[2].certificate_pem, generation=2, now=NOW + timedelta(hours=1)
        ),
    ]
    return signers, handovers


class TestFollow:
    def test_a_device_offline_through_two_rotations_follows_old_mid_new(
        self, ca: DeviceCA, chain: tuple[list[CommandSigner], list[str]]
    ) -> None:
        (old, mid, new), handovers = chain
        links = follow(
            old.certificate_pem, handovers, new.certificate_pem, ca=ca.certificate, now=NOW
        )
        assert [link.sha256 for link in links] == [mid.fingerprint_sha256, new.fingerprint_sha256]
        assert links[0].handed_over_at == NOW

    def test_a_device_holding_the_middle_signer_takes_only_the_last_link(
        self, ca: DeviceCA, chain: tuple[list[CommandSigner], list[str]]
    ) -> None:
        (_, mid, new), handovers = chain
        links = follow(
            mid.certificate_pem, handovers, new.certificate_pem, ca=ca.certificate, now=NOW
        )
        assert [link.sha256 for link in links] == [new.fingerprint_sha256]

    def test_a_gap_in_the_chain_is_refused(
        self, ca: DeviceCA, chain: tuple[list[CommandSigner], list[str]]
    ) -> None:
        (old, _, new), handovers = chain
        with pytest.raises(SignerChainError, match="no handover statement leads on"):
            follow(
                old.certificate_pem, handovers[1:], new.certificate_pem, ca=ca.certificate, now=NOW
            )

    def test_no_handovers_at_all_is_a_gap(self, ca: DeviceCA) -> None:
        old, new = new_signer(ca), new_signer(ca)
        with pytest.raises(SignerChainError, match="no handover statement leads on"):
            follow(old.certificate_pem, [], new.certificate_pem, ca=ca.certificate, now=NOW)

    def test_a_link_signed_by_any_other_key_is_refused_as_forged(self, ca: DeviceCA) -> None:
        old, new = new_signer(ca), new_signer(ca)
        forger = new_signer(ca)  # even a signer the CA issued cannot hand over for `old`
        forged = forged_handover(forger, old, new)
        with pytest.raises(SignerChainError, match="not signed by its key"):
            follow(old.certificate_pem, [forged], new.certificate_pem, ca=ca.certificate, now=NOW)

    def test_a_forged_link_beside_the_real_one_does_not_hide_it(
        self, ca: DeviceCA, chain: tuple[list[CommandSigner], list[str]]
    ) -> None:
        (old, mid, new), handovers = chain
        forged = forged_handover(new_signer(ca), old, mid)
        links = follow(
            old.certificate_pem,
            [forged, *handovers],
            new.certificate_pem,
            ca=ca.certificate,
            now=NOW,
        )
        assert len(links) == 2

    def test_a_certificate_another_ca_issued_is_refused_even_with_a_true_handover(
        self, ca: DeviceCA, tmp_path: Path
    ) -> None:
        old = new_signer(ca)
        impostor = new_signer(new_ca(tmp_path / "other", name="Tabard Device CA"))
        handover = sign_handover(old, impostor.certificate_pem, generation=1, now=NOW)
        with pytest.raises(SignerChainError, match="not from the pinned CA"):
            follow(
                old.certificate_pem,
                [handover],
                impostor.certificate_pem,
                ca=ca.certificate,
                now=NOW,
            )

    def test_a_mid_link_another_ca_issued_is_refused(self, ca: DeviceCA, tmp_path: Path) -> None:
        old, new = new_signer(ca), new_signer(ca)
        stray = new_signer(new_ca(tmp_path / "other"))
        handovers = [
            sign_handover(old, stray.certificate_pem, generation=1, now=NOW),
            sign_handover(stray, new.certificate_pem, generation=2, now=NOW),
        ]
        with pytest.raises(SignerChainError, match="not from the pinned CA"):
            follow(old.certificate_pem, handovers, new.certificate_pem, ca=ca.certificate, now=NOW)

    def test_a_certificate_the_ca_issued_for_something_else_is_refused(self, ca: DeviceCA) -> None:
        old = new_signer(ca)
        other = new_signer(ca, name="Tabard audit")
        handover = sign_handover(old, other.certificate_pem, generation=1, now=NOW)
        with pytest.raises(SignerChainError, match="not one"):
            follow(
                old.certificate_pem, [handover], other.certificate_pem, ca=ca.certificate, now=NOW
            )


def envelope(signer: CommandSigner, *, issued_at: datetime, lifetime: timedelta) -> str:
    return signer.sign(
        EnvelopeClaims(
            device_id=DEVICE,
            command_id=uuid.uuid4(),
            seq=1,
            type="lock_device",
            params={},
            issued_at=issued_at,
            not_before=issued_at,
            expires_at=issued_at + lifetime,
        )
    )


class TestSigners:
    @pytest.fixture
    def state(self, tmp_path: Path, ca: DeviceCA) -> AgentState:
        state = AgentState(tmp_path / "agent")
        state.ensure()
        state.write(CA_FILE, ca.certificate_pem.encode())
        return state

    def test_with_no_signer_held_one_the_ca_issued_is_trusted(
        self, state: AgentState, ca: DeviceCA
    ) -> None:
        signer = new_signer(ca)
        signers = Signers(state)
        signers.trust(signer.certificate_pem, now=NOW, handovers=[])
        assert Signers(state).kid == signer.fingerprint_sha256

    def test_a_new_signer_without_a_handover_is_refused_and_the_old_one_kept(
        self, state: AgentState, ca: DeviceCA
    ) -> None:
        old, new = new_signer(ca), new_signer(ca)
        signers = Signers(state)
        signers.trust(old.certificate_pem, now=NOW)
        with pytest.raises(SignerChainError):
            signers.trust(new.certificate_pem, now=NOW, handovers=[])
        assert Signers(state).kid == old.fingerprint_sha256
        with pytest.raises(EnvelopeRefusedError) as refused:
            signers.verify(
                envelope(new, issued_at=NOW, lifetime=timedelta(minutes=2)),
                device_id=str(DEVICE),
                now=NOW,
            )
        assert refused.value.code == "bad_signature"

    def test_after_following_a_chain_the_new_signer_is_kept_across_restarts(
        self, state: AgentState, ca: DeviceCA, chain: tuple[list[CommandSigner], list[str]]
    ) -> None:
        (old, _, new), handovers = chain
        Signers(state).trust(old.certificate_pem, now=NOW)
        Signers(state).trust(new.certificate_pem, now=NOW, handovers=handovers)
        restarted = Signers(state)
        assert restarted.kid == new.fingerprint_sha256
        later = NOW + timedelta(hours=2)
        sealed = envelope(new, issued_at=later, lifetime=timedelta(minutes=2))
        assert restarted.verify(sealed, device_id=str(DEVICE), now=later).type == "lock_device"

    def test_an_envelope_the_old_key_signed_before_the_handover_still_runs(
        self, state: AgentState, ca: DeviceCA
    ) -> None:
        old, new = new_signer(ca), new_signer(ca)
        Signers(state).trust(old.certificate_pem, now=NOW)
        handover = sign_handover(old, new.certificate_pem, generation=1, now=NOW)
        signers = Signers(state)
        signers.trust(new.certificate_pem, now=NOW, handovers=[handover])
        in_flight = envelope(
            old, issued_at=NOW - timedelta(seconds=30), lifetime=timedelta(minutes=2)
        )
        assert signers.knows(old.fingerprint_sha256)
        assert (
            Signers(state).verify(in_flight, device_id=str(DEVICE), now=NOW).type == "lock_device"
        )

    def test_an_envelope_the_old_key_signed_after_the_handover_is_refused(
        self, state: AgentState, ca: DeviceCA
    ) -> None:
        old, new = new_signer(ca), new_signer(ca)
        Signers(state).trust(old.certificate_pem, now=NOW)
        handover = sign_handover(old, new.certificate_pem, generation=1, now=NOW)
        signers = Signers(state)
        signers.trust(new.certificate_pem, now=NOW, handovers=[handover])
        later = NOW + timedelta(minutes=10)
        stolen = envelope(old, issued_at=later, lifetime=timedelta(minutes=2))
        with pytest.raises(EnvelopeRefusedError) as refused:
            signers.verify(stolen, device_id=str(DEVICE), now=later)
        assert refused.value.code == "retired_signer"

    def test_enrolling_again_starts_trust_afresh(self, state: AgentState, ca: DeviceCA) -> None:
        old, new = new_signer(ca), new_signer(ca)
        Signers(state).trust(old.certificate_pem, now=NOW)
        handover = sign_handover(old, new.certificate_pem, generation=1, now=NOW)
        Signers(state).trust(new.certificate_pem, now=NOW, handovers=[handover])
        assert state.path(PREVIOUS_FILE).exists()
        fresh = new_signer(ca)
        Signers(state).trust(fresh.certificate_pem, now=NOW)  # what enrolment does
        assert not state.path(PREVIOUS_FILE).exists()
        assert Signers(state).previous_kid is None


class TestAgainstTheServer:
    """The agent's executor against the server in process, across a rotation."""

    def rotate(self, device: Device) -> str:
        context = device.app.state.context
        rotation = rotate(
            context.keys, ca=context.ca, issuer=context.settings.public_url, now=device.clock()
        )
        return rotation.sha256

    def lock(self, device: Device, agent: Agent) -> dict[str, Any]:
        command = send(
            device.client, device.admin, device.state.enrolment().device_id, "lock_device"
        )
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome.get("command_id", command["id"]) == command["id"]
        return outcome

    def test_the_agent_follows_two_rotations_and_runs_commands_throughout(
        self, offline_device: Device
    ) -> None:
        agent = offline_device.agent()
        try:
            assert self.lock(offline_device, agent)["result"] == "succeeded"
            self.rotate(offline_device)
            newest = self.rotate(offline_device)
            assert self.lock(offline_device, agent)["result"] == "succeeded"
            assert agent.executor.signers.kid == newest
        finally:
            agent.close()

    def test_a_command_signed_under_the_old_key_and_not_yet_run_still_runs(
        self, offline_device: Device
    ) -> None:
        agent = offline_device.agent()
        device_id = offline_device.state.enrolment().device_id
        admin = offline_device.client, offline_device.admin

        async def fetch() -> list[str]:
            async with agent.client() as client:
                return [str(e) for e in (await client.poll_commands(wait_s=0))["commands"]]

        async def execute(envelopes: list[str]) -> list[dict[str, Any]]:
            async with agent.client() as client:
                outcomes = await agent.executor.run(envelopes, client)
                await agent.executor.send_unsent(client)
                return outcomes

        try:
            first = send(*admin, device_id, "lock_device")
            (old_envelope,) = run(fetch())  # signed, delivered, not yet run
            newest = self.rotate(offline_device)
            second = send(*admin, device_id, "clear_pin_lockout")
            (new_envelope,) = run(fetch())
            assert jwt.get_unverified_header(new_envelope)["kid"] == newest
            outcomes = run(execute([new_envelope, old_envelope]))
            assert [(o["outcome"], o["command_id"]) for o in outcomes] == [
                ("ran", second["id"]),
                ("ran", first["id"]),
            ]
            for sent in (first, second):
                shown = offline_device.client.get(
                    f"/api/v1/commands/{sent['id']}", headers=offline_device.admin
                ).json()
                assert (shown["state"], shown["deliveries"]) == ("succeeded", 1)
        finally:
            agent.close()

    def test_without_the_handover_the_agent_refuses_the_new_signer_and_runs_nothing(
        self, offline_device: Device, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        agent = offline_device.agent()
        try:
            assert self.lock(offline_device, agent)["result"] == "succeeded"
            held = agent.executor.signers.kid
            self.rotate(offline_device)
            signing = offline_device.app.state.context.command_signer
            current, _ = signing.published()
            monkeypatch.setattr(signing, "published", lambda: (current, []))
            outcome = self.lock(offline_device, agent)
            assert (outcome["outcome"], outcome["reason"]) == ("refused", "untrusted_signer")
            assert "no handover statement leads on" in outcome["message"]
            assert agent.executor.signers.kid == held
            assert len(agent.executor.journal.entries) == 1
        finally:
            agent.close()
