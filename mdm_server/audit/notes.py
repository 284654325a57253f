"""Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), Ed25519.

A checkpoint's body is three lines: the log's origin, the tree size in decimal, the root in
base64; then a blank line and one signature line per signer:

    tabard.example.police.uk/audit
    1042
    kPb0…=

    — tabard.example.police.uk/audit 3sK1dGp5…

A signature line is an em dash, a space, the key name, a space, and base64 of the 4-byte key id
followed by the 64-byte Ed25519 signature of the body (every byte up to and including the
newline before the blank line). The key id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key); the verifier key, what auditors and witnesses pin,
is `name+<key id in hex>+<base64 of 0x01 || public key>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class NoteError(ValueError):
    """A note or verifier key that is malformed, or whose signature does not verify."""


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 in its one canonical spelling: padding bits that decode to the same bytes
    would let a note change without its meaning changing."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise NoteError(f"{what} is not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise NoteError("a key name must be non-empty, with no spaces and no '+'")


class NoteSigner:
    """Signs checkpoints with the log's Ed25519 key."""

    def __init__(self, name: str, key: ed25519.Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = key
        self._public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = _key_id(name, self._public)

    def verifier_key(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self._public).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier.parse(self.verifier_key())

    def named(self, name: str) -> NoteSigner:
        """The same key under another name (key ids differ by name)."""
        return NoteSigner(name, self._key)

    def sign(self, checkpoint: Checkpoint) -> str:
        return self.sign_text(checkpoint.body())

    def sign_text(self, body: str) -> str:
        """A signed note of `body` (lines, each ending in a newline, none empty)."""
        if not body.endswith("\n") or "\n\n" in body:
            raise NoteError("a note's text is non-empty lines, each ending in a newline")
        return f"{body}\n{self._signature_line(body)}"

    def cosign(self, note: str) -> str:
        """`note` with this key's signature line added after the signatures it carries."""
        body, _ = _split_note(note)
        return note + self._signature_line(body)

    def _signature_line(self, body: str) -> str:
        signature = base64.b64encode(self.key_id + self._key.sign(body.encode("utf-8")))
        return f"{SIGNATURE_PREFIX}{self.name} {signature.decode('ascii')}\n"


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key_id: bytes
    public: ed25519.Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Read a verifier key `name+hexid+base64key`."""
        parts = text.strip().split("+", 2)  # the base64 key may itself hold '+'s
        if len(parts) != 3:
            raise NoteError("a verifier key has the form name+keyid+base64key")
        name, key_hex, key_b64 = parts
        _check_name(name)
        try:
            key_id = bytes.fromhex(key_hex)
        except ValueError as exc:
            raise NoteError("the verifier key's id is not hex") from exc
        raw = b64decode_strict(key_b64, "the verifier key")
        if len(key_id) != 4 or len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 note key")
        if _key_id(name, raw[1:]) != key_id:
            raise NoteError("the verifier key's id does not match its name and key")
        return cls(name, key_id, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]))

    def verify(self, note: str) -> str:
        """The text of `note`, if this key signed it; NoteError otherwise. The first signature
        line with this key's name and id decides, as in c2sp.org/signed-note."""
        body, signatures = _split_note(note)
        for name, blob in signatures:
            if name != self.name or blob[:4] != self.key_id:
                continue  # another signer's line (a witness, say): not ours to judge
            try:
                self.public.verify(blob[4:], body.encode("utf-8"))
            except InvalidSignature as exc:
                raise NoteError(f"the signature by {name} does not verify") from exc
            return body
        raise NoteError(f"the note carries no signature by {self.name}")

    def open(self, note: str, *, origin: str | None = None) -> Checkpoint:
        """The checkpoint in `note`, if this key signed it; NoteError otherwise."""
        checkpoint = parse_checkpoint(self.verify(note))
        if origin is not None and checkpoint.origin != origin:
            raise NoteError(f"the checkpoint is for '{checkpoint.origin}', not '{origin}'")
        return checkpoint


class NoteOpener(Protocol):
    """What checks the log's notes: one verifier key, or the chain of keys the log handed
    over through (mdm_server/audit/handover.py)."""

    @property
    def name(self) -> str: ...

    def verify(self, note: str) -> str: ...

    def open(self, note: str, *, origin: str | None = None) -> Checkpoint: ...


def signer_names(note: str) -> list[str]:
    """The key names on a note's signature lines, in order; none if it is not a signed note.
    Says nothing of whether any signature verifies."""
    try:
        _, signatures = _split_note(note)
    except NoteError:
        return []
    return [name for name, _ in signatures]


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    if not note.endswith("\n") or any(c < " " and c != "\n" for c in note):
        raise NoteError("a note is lines of text, each ending in a newline")
    body, separator, tail = note.rpartition("\n\n")
    if not separator or not tail:
        raise NoteError("a note has a body, a blank line, then its signatures")
    signatures: list[tuple[str, bytes]] = []
    for line in tail[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("each signature line starts with an em dash and a space")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        blob = b64decode_strict(encoded, "a signature")
        if not name or len(blob) < 5:
            raise NoteError("a signature line names its key and carries id and signature")
        signatures.append((name, blob))
    return body + "\n", signatures


def parse_checkpoint(body: str) -> Checkpoint:
    """A checkpoint body: origin, size, root, then any extension lines."""
    lines = body[:-1].split("\n") if body.endswith("\n") else []
    if len(lines) < 3 or not lines[0]:
        raise NoteError("a checkpoint has an origin, a size and a root, one per line")
    origin, size, root_b64, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise NoteError("the checkpoint's size is not a decimal number")
    root = b64decode_strict(root_b64, "the checkpoint's root")
    if len(root) != 32:
        raise NoteError("the checkpoint's root is not a SHA-256 hash")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint's extension lines are not empty")
    return Checkpoint(origin, int(size), root, tuple(extensions))
