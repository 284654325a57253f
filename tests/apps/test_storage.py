"""The filesystem APK store: content-addressed, written whole or not at all, private to the
server's account, and the only store the settings accept for now."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from mdm_server.apps.apk import MAX_APK_BYTES
from mdm_server.apps.storage import ApkTooLargeError, FilesystemApkStore, open_store
from tests.conftest import make_settings


@pytest.fixture
def store(tmp_path: Path) -> FilesystemApkStore:
    return FilesystemApkStore(tmp_path / "apks")


class TestFilesystemApkStore:
    def test_stores_bytes_under_their_sha256(self, store: FilesystemApkStore) -> None:
        data = b"PK\x03\x04 an apk, say" * 1000
        stored = store.put([data[:100], data[100:]])
        digest = hashlib.sha256(data).hexdigest()
        assert (stored.sha256, stored.size, stored.new) == (digest, len(data), True)
        assert store.path(digest) == store.root / digest[:2] / f"{digest}.apk"
        assert store.exists(digest)
        assert store.size(digest) == len(data)
        with store.open(digest) as stored_file:
            assert stored_file.read() == data

    def test_the_same_bytes_twice_are_kept_once(self, store: FilesystemApkStore) -> None:
        first = store.put([b"same bytes"])
        second = store.put([b"same ", b"bytes"])
        assert (first.sha256, first.new, second.new) == (second.sha256, True, False)
        assert list(store.root.rglob("*.apk")) == [store.path(first.sha256)]
        assert list(store.root.rglob("*.part")) == []

    def test_files_and_directories_are_private(self, store: FilesystemApkStore) -> None:
        stored = store.put([b"private"])
        path = store.path(stored.sha256)
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert store.root.stat().st_mode & 0o777 == 0o700

    def test_a_put_that_fails_midway_leaves_nothing(self, store: FilesystemApkStore) -> None:
        def broken() -> Iterator[bytes]:
            yield b"the first half"
            raise ConnectionError("the client went away")

        with pytest.raises(ConnectionError):
            store.put(broken())
        with pytest.raises(ApkTooLargeError):
            store.put([b"x" * 10, b"y" * 10], max_bytes=15)
        assert [p for p in store.root.rglob("*") if p.is_file()] == []

    def test_delete_removes_and_tolerates_absence(self, store: FilesystemApkStore) -> None:
        stored = store.put([b"gone soon"])
        store.delete(stored.sha256)
        store.delete(stored.sha256)
        assert not store.exists(stored.sha256)

    @pytest.mark.parametrize("name", ["../../etc/passwd", "AB" * 32, "ab" * 31, ""])
    def test_only_a_digest_names_a_file(self, store: FilesystemApkStore, name: str) -> None:
        with pytest.raises(ValueError, match="SHA-256"):
            store.path(name)


class TestChoosingTheStore:
    def test_the_filesystem_store_lives_in_the_data_directory(self, tmp_path: Path) -> None:
        store = open_store(make_settings(tmp_path / "data"))
        assert isinstance(store, FilesystemApkStore)
        assert store.root == (tmp_path / "data" / "apks").resolve()

    def test_the_upload_limit_is_no_more_than_the_apk_reader_reads(self, tmp_path: Path) -> None:
        assert make_settings(tmp_path).apk_max_bytes <= MAX_APK_BYTES
        with pytest.raises(ValidationError):
            make_settings(tmp_path, apk_max_bytes=MAX_APK_BYTES + 1)

    def test_a_store_tabard_does_not_have_is_refused_in_words(self, tmp_path: Path) -> None:
        with pytest.raises(ValidationError, match="an S3-compatible store is not available yet"):
            make_settings(tmp_path, apk_store="s3")
