"""Signed notes and checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_server.audit import merkle
from mdm_server.audit.notes import Checkpoint, NoteError, NoteSigner, NoteVerifier

# The example in the Go module mirror's note package documentation, signed by its authors.
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"
    "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ORIGIN = "mdm.example.police.uk/audit"


def _signer(seed: int = 1) -> NoteSigner:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return NoteSigner(ORIGIN, key)


def test_a_note_signed_elsewhere_verifies() -> None:
    assert NoteVerifier.parse(GO_VERIFIER).verify(GO_NOTE) == GO_TEXT


def test_a_note_signed_elsewhere_fails_when_its_text_changes() -> None:
    with pytest.raises(NoteError, match="does not verify"):
        NoteVerifier.parse(GO_VERIFIER).verify(GO_NOTE.replace("problem,", "problem;"))


def test_a_checkpoint_round_trips() -> None:
    signer = _signer()
    root = merkle.leaf_hash(b"x")
    note = signer.sign(Checkpoint(ORIGIN, 7, root))
    assert note.startswith(f"{ORIGIN}\n7\n{base64.b64encode(root).decode()}\n\n\u2014 {ORIGIN} ")
    verifier = NoteVerifier.parse(signer.verifier_key())
    assert verifier.open(note, origin=ORIGIN) == Checkpoint(ORIGIN, 7, root)
    name, key_id, key = signer.verifier_key().split("+", 2)
    assert (name, len(key_id), base64.b64decode(key)[0]) == (ORIGIN, 8, 1)


def test_a_verifier_key_whose_base64_holds_a_plus_is_read() -> None:
    for seed in range(1, 40):
        key = _signer(seed).verifier_key()
        if "+" in key.split("+", 2)[2]:
            assert NoteVerifier.parse(key).key_id == _signer(seed).key_id
            return
    raise AssertionError("no seed gave a key with '+' in its base64")


def test_another_key_or_origin_is_refused() -> None:
    note = _signer(1).sign(Checkpoint(ORIGIN, 1, bytes(32)))
    with pytest.raises(NoteError, match="no signature"):
        _signer(2).verifier().open(note)
    with pytest.raises(NoteError, match="not 'elsewhere'"):
        _signer(1).verifier().open(note, origin="elsewhere")


def test_a_witness_cosignature_line_is_ignored() -> None:
    note = _signer(1).sign(Checkpoint(ORIGIN, 3, bytes(32)))
    cosigned = note + "\u2014 witness.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
    assert _signer(1).verifier().open(cosigned).size == 3


@pytest.mark.parametrize(
    "key",
    [
        "",
        "name+abcd",
        "name+zzzzzzzz+AAAA",
        "na me+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+AhRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    ],
)
def test_malformed_verifier_keys_are_refused(key: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.parse(key)


@pytest.mark.parametrize(
    "body",
    ["origin\n", "origin\n01\nAAAA\n", "origin\n-1\nAAAA\n", "origin\n1\nAAAA\n", "origin\n1\n"],
)
def test_malformed_checkpoints_are_refused(body: str) -> None:
    signer = _signer()
    blob = base64.b64encode(signer.key_id + bytes(64)).decode()
    with pytest.raises(NoteError):
        signer.verifier().open(f"{body}\n\u2014 {ORIGIN} {blob}\n")


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), st.data())
def test_any_single_bit_change_to_a_signed_checkpoint_fails(size: int, data: st.DataObject) -> None:
    """Above all the size: a root alone does not commit to its size, the signed note does."""
    signer = _signer()
    note = signer.sign(Checkpoint(ORIGIN, size, merkle.leaf_hash(str(size).encode())))
    raw = bytearray(note.encode("utf-8"))
    size_line = len(ORIGIN) + 1
    where = data.draw(
        st.one_of(
            st.integers(size_line, size_line + len(str(size)) - 1),  # the size's digits
            st.integers(0, len(raw) - 1),  # anywhere at all
        )
    )
    raw[where] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises((NoteError, UnicodeDecodeError)):
        signer.verifier().open(raw.decode("utf-8"), origin=ORIGIN)
