"""The witness against honest and lying logs: it accepts only what a consistency proof backs,
and keeps both notes when the log shrinks, forks or rewrites a size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit import merkle
from mdm_server.audit.notes import Checkpoint, NoteSigner
from mdm_server.audit.witness import HttpLogServer, RecordedChange, Witness, WitnessError
from mdm_server.db import Database
from tests.audit.log import ORIGIN, checkpoint_app, fixed_signer, write_events


def _leaves(tag: str, count: int) -> list[bytes]:
    return [merkle.leaf_hash(f"{tag}{n}".encode()) for n in range(count)]


class ScriptedLog:
    """A log that serves whatever tree it is told to: honest, or lying."""

    def __init__(self, signer: NoteSigner) -> None:
        self.signer = signer
        self.tree = merkle.MemoryTree()
        self.size = 0

    def grow(self, leaves: list[bytes]) -> None:
        for leaf in leaves:
            self.tree.append(leaf)
        self.size = self.tree.size

    def fork(self, leaves: list[bytes], size: int) -> None:
        """Serve a different history from here on (what a rewritten database would give)."""
        self.tree = merkle.MemoryTree(leaves)
        self.size = size

    def checkpoint(self) -> str:
        return self.signer.sign(Checkpoint(ORIGIN, self.size, self.tree.root(self.size)))

    def consistency(self, first: int, second: int) -> list[bytes]:
        return self.tree.consistency(first, second)

    def key_changes(self) -> list[RecordedChange]:
        return []  # its key never changed (tests/audit/test_key_rotation.py: one that did)

    def inclusion(self, seq: int, size: int) -> list[bytes]:
        return self.tree.inclusion(seq - 1, size)


@pytest.fixture
def log() -> ScriptedLog:
    return ScriptedLog(fixed_signer())


@pytest.fixture
def witness(tmp_path: Path, log: ScriptedLog) -> Witness:
    keeper = Witness(tmp_path / "witness")
    keeper.pin(log.signer.verifier_key())
    return keeper


def test_first_then_accepted_then_unchanged(witness: Witness, log: ScriptedLog) -> None:
    log.grow(_leaves("a", 5))
    assert witness.observe(log).outcome == "first"
    log.grow(_leaves("b", 6))
    result = witness.observe(log)
    assert (result.outcome, result.held, result.offered) == ("accepted", 5, 11)
    assert witness.observe(log).outcome == "unchanged"
    held = witness.held()
    assert held is not None and held[1].size == 11


def test_a_smaller_size_is_refused_and_both_notes_kept(witness: Witness, log: ScriptedLog) -> None:
    log.grow(_leaves("a", 8))
    witness.observe(log)
    kept_note = log.checkpoint()
    log.size = 6  # the server now claims a shorter log
    result = witness.observe(log)
    assert result.outcome == "refused" and "shrank" in result.reason
    assert result.evidence is not None
    assert (result.evidence / "held.note").read_text() == kept_note
    assert (result.evidence / "offered.note").read_text() == log.checkpoint()
    assert json.loads((result.evidence / "finding.json").read_text())["reason"] == result.reason
    held = witness.held()
    assert held is not None and held[1].size == 8  # still holding the good one


def test_a_second_root_for_the_same_size_is_refused(witness: Witness, log: ScriptedLog) -> None:
    log.grow(_leaves("a", 8))
    witness.observe(log)
    log.fork(_leaves("a", 3) + _leaves("forged", 5), 8)
    result = witness.observe(log)
    assert result.outcome == "refused" and "second root" in result.reason


def test_a_rewritten_history_cannot_prove_consistency(witness: Witness, log: ScriptedLog) -> None:
    log.grow(_leaves("a", 8))
    witness.observe(log)
    log.fork(_leaves("a", 3) + _leaves("forged", 9), 12)
    result = witness.observe(log)
    assert result.outcome == "refused" and "consistency proof from 8 to 12" in result.reason
    held = witness.held()
    assert held is not None and held[1].size == 8


def test_a_note_signed_by_another_key_is_not_taken(tmp_path: Path, log: ScriptedLog) -> None:
    keeper = Witness(tmp_path / "w")
    keeper.pin(NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate()).verifier_key())
    log.grow(_leaves("a", 2))
    with pytest.raises(WitnessError, match="does not verify"):
        keeper.observe(log)
    assert keeper.held() is None


def test_a_different_key_is_not_pinned_over_the_first(witness: Witness) -> None:
    other = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate()).verifier_key()
    with pytest.raises(WitnessError, match="already holds the key"):
        witness.pin(other)


def test_an_altered_state_file_is_reported(witness: Witness, log: ScriptedLog) -> None:
    log.grow(_leaves("a", 4))
    witness.observe(log)
    path = witness.state / "checkpoint"
    path.write_text(path.read_text().replace("\n4\n", "\n3\n"))
    with pytest.raises(WitnessError, match="state was altered"):
        witness.observe(log)


def test_against_the_real_api(
    app: FastAPI, client: TestClient, database: Database, tmp_path: Path
) -> None:
    server = HttpLogServer("http://testserver", client=client)
    keeper = Witness(tmp_path / "w")
    keeper.pin(server.verifier_key())
    write_events(database, 3)
    checkpoint_app(app)
    assert keeper.observe(server).outcome == "first"
    write_events(database, 4, start=3)
    checkpoint_app(app)
    assert keeper.observe(server).outcome == "accepted"
