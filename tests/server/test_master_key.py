"""The master key ring: blobs from before rotation open as key 1's, new blobs name the key
that wrapped them, a wrong key is refused, and a running ring follows the key files."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mdm_server.crypto.keystore import KeyStore, KeyStoreError, write_private_file
from mdm_server.crypto.master import (
    KEY_FILE,
    MAGIC,
    ROOT_BINDING,
    ROOT_FILE,
    MasterKey,
    UnwrapError,
    key_files,
    key_id_of,
)

BOUND = b"tabard container key|device|key"


def _keys(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    MasterKey.load_or_create(KeyStore(directory))
    return directory


def _add_key(directory: Path, key_id: int) -> None:
    write_private_file(directory / f"master.{key_id}.key", secrets.token_bytes(32))


def _legacy_wrap(key: bytes, secret: bytes, bound_to: bytes) -> bytes:
    """A blob as the server wrapped them before rotation: nonce || ciphertext || tag."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, secret, bound_to)


class TestWrapping:
    def test_a_blob_from_before_rotation_opens_as_the_first_keys(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        blob = _legacy_wrap((directory / KEY_FILE).read_bytes(), b"container key", BOUND)
        assert MasterKey.load(directory).open(blob, bound_to=BOUND) == (1, b"container key")

    def test_a_new_blob_names_the_newest_key(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        _add_key(directory, 2)
        ring = MasterKey.load(directory)
        blob = ring.wrap(b"secret", bound_to=BOUND)
        assert blob.startswith(MAGIC) and key_id_of(blob) == 2
        assert ring.open(blob, bound_to=BOUND) == (2, b"secret")

    def test_a_blob_opens_only_bound_to_what_it_was_wrapped_for(self, tmp_path: Path) -> None:
        ring = MasterKey.load(_keys(tmp_path))
        blob = ring.wrap(b"secret", bound_to=BOUND)
        with pytest.raises(UnwrapError):
            ring.unwrap(blob, bound_to=b"tabard container key|other|key")

    def test_another_servers_key_is_refused(self, tmp_path: Path) -> None:
        blob = MasterKey.load(_keys(tmp_path / "a")).wrap(b"secret", bound_to=BOUND)
        with pytest.raises(UnwrapError):
            MasterKey.load(_keys(tmp_path / "b")).unwrap(blob, bound_to=BOUND)

    def test_a_blob_naming_a_key_not_held_says_which(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        _add_key(directory, 7)
        blob = MasterKey.load(directory).wrap(b"secret", bound_to=BOUND)
        (directory / "master.7.key").unlink()
        with pytest.raises(UnwrapError, match="master key 7"):
            MasterKey.load(directory).unwrap(blob, bound_to=BOUND)

    def test_an_altered_key_id_is_refused(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        _add_key(directory, 2)
        ring = MasterKey.load(directory)
        blob = ring.wrap(b"secret", bound_to=BOUND, key_id=1)
        renamed = blob[: len(MAGIC)] + (2).to_bytes(4, "big") + blob[len(MAGIC) + 4 :]
        with pytest.raises(UnwrapError):
            ring.unwrap(renamed, bound_to=BOUND)


class TestRunningRing:
    def test_wraps_under_a_key_file_added_after_it_loaded(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        running = MasterKey.load(directory)
        before = running.wrap(b"old", bound_to=BOUND)
        _add_key(directory, 2)
        after = running.wrap(b"new", bound_to=BOUND)
        assert (key_id_of(before), key_id_of(after)) == (1, 2)
        assert running.unwrap(before, bound_to=BOUND) == b"old"
        assert MasterKey.load(directory).unwrap(after, bound_to=BOUND) == b"new"

    def test_opens_a_blob_under_a_key_it_had_not_loaded(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        running = MasterKey.load(directory)
        _add_key(directory, 2)
        blob = MasterKey.load(directory).wrap(b"secret", bound_to=BOUND)
        assert running.unwrap(blob, bound_to=BOUND) == b"secret"

    def test_a_retired_older_key_file_is_no_problem(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        running = MasterKey.load(directory)
        _add_key(directory, 2)
        (directory / KEY_FILE).unlink()
        assert running.problems() == []
        assert running.key_ids == [2]  # let go of the retired key

    def test_the_newest_key_file_missing_is_a_problem(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        _add_key(directory, 2)
        running = MasterKey.load(directory)
        (directory / "master.2.key").unlink()
        assert running.problems() == [f"{directory / 'master.2.key'} is missing"]

    def test_a_key_file_replaced_is_a_problem(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        running = MasterKey.load(directory)
        (directory / KEY_FILE).write_bytes(secrets.token_bytes(32))
        assert "changed since the server loaded it" in running.problems()[0]

    def test_derived_keys_outlive_the_first_key(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        first = MasterKey.load(directory)
        _add_key(directory, 2)
        ring = MasterKey.load(directory)
        (directory / ROOT_FILE).write_bytes(ring.wrapped_root(2))
        (directory / ROOT_FILE).chmod(0o600)
        (directory / KEY_FILE).unlink()
        later = MasterKey.load(directory)
        assert later.derive(b"purpose") == first.derive(b"purpose")
        assert key_id_of((directory / ROOT_FILE).read_bytes()) == 2
        assert later.unwrap((directory / ROOT_FILE).read_bytes(), bound_to=ROOT_BINDING)

    def test_first_start_makes_key_one_but_never_beside_a_later_key(self, tmp_path: Path) -> None:
        directory = _keys(tmp_path)
        assert list(key_files(directory)) == [1]
        _add_key(directory, 2)
        (directory / KEY_FILE).unlink()
        with pytest.raises(KeyStoreError, match=r"master\.root"):
            MasterKey.load_or_create(KeyStore(directory))  # no root: refuses, makes nothing
        assert list(key_files(directory)) == [2]
