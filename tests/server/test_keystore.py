from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from mdm_server.crypto.keystore import KeyStore, KeyStoreError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _create_in_child(directory: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    key = KeyStore(Path(directory)).private_key("k.key", ed25519.Ed25519PrivateKey.generate)
    queue.put(key.public_key().public_bytes_raw())  # type: ignore[union-attr]


class TestKeyStore:
    def test_creates_keys_owner_only_in_an_owner_only_directory(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path / "keys")
        store.private_key("a.key", ed25519.Ed25519PrivateKey.generate)
        assert _mode(tmp_path / "keys") == 0o700
        assert _mode(tmp_path / "keys" / "a.key") == 0o600

    def test_loads_the_same_key_on_the_next_start(self, tmp_path: Path) -> None:
        first = KeyStore(tmp_path).private_key("a.key", ed25519.Ed25519PrivateKey.generate)
        again = KeyStore(tmp_path).private_key("a.key", ed25519.Ed25519PrivateKey.generate)
        assert first.public_key() == again.public_key()

    def test_refuses_a_key_file_others_can_read(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path)
        store.private_key("a.key", ed25519.Ed25519PrivateKey.generate)
        (tmp_path / "a.key").chmod(0o644)
        with pytest.raises(KeyStoreError, match="chmod 600") as refused:
            store.private_key("a.key", ed25519.Ed25519PrivateKey.generate)
        assert "BEGIN" not in str(refused.value)

    def test_refuses_a_key_directory_others_can_write(self, tmp_path: Path) -> None:
        (tmp_path / "keys").mkdir()
        (tmp_path / "keys").chmod(0o777)
        with pytest.raises(KeyStoreError, match="chmod 700"):
            KeyStore(tmp_path / "keys")

    def test_workers_starting_together_agree_on_one_key(self, tmp_path: Path) -> None:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        workers = [
            context.Process(target=_create_in_child, args=(str(tmp_path), queue)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        keys = {queue.get(timeout=60) for _ in workers}
        for worker in workers:
            worker.join(timeout=60)
        assert len(keys) == 1
