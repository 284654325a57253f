"""The filesystem APK store: content-addressed, written whole or not at all, private to the
server's account, and the only store the settings accept for now."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mdm_server.apps.apk import MAX_APK_BYTES
from mdm_server.apps.storage import ApkTooLargeError, FilesystemApkStore, open_store
from mdm_server.scheduler.jobs import job_named
from mdm_server.scheduler.runner import run_job
from tests.apps.test_releases import upload
from tests.conftest import FakeClock, make_settings
from virtual_device.apk import build_apk


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


def age(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


class TestOrphans:
    """Bytes no version holds, left by a server stopped between storing an upload and
    cataloguing it, are swept a day on; half-written uploads too; nothing a version holds."""

    def test_the_store_lists_what_it_holds_and_drops_half_written_uploads(
        self, store: FilesystemApkStore
    ) -> None:
        kept = store.put([b"whole"])
        partial = store.root / "incoming" / "cut.part"
        partial.write_bytes(b"half an upl")
        long_ago = datetime(2026, 1, 1, tzinfo=UTC)
        age(partial, long_ago)
        assert [sha256 for sha256, _ in store.stored()] == [kept.sha256]
        assert store.drop_partial(before=long_ago) == 0  # not older than that
        assert store.drop_partial(before=long_ago + timedelta(seconds=1)) == 1
        assert not partial.exists() and store.exists(kept.sha256)

    def test_storing_the_same_bytes_again_makes_them_recent(
        self, store: FilesystemApkStore
    ) -> None:
        stored = store.put([b"again"])
        age(store.path(stored.sha256), datetime(2026, 1, 1, tzinfo=UTC))
        store.put([b"again"])
        [(_, stored_at)] = list(store.stored())
        assert stored_at > datetime(2026, 1, 2, tzinfo=UTC)

    def test_the_sweep_removes_old_unheld_bytes_and_nothing_else(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        held = upload(client, admin_headers, build_apk("uk.police.pnc", version_code=1))
        apks = app.state.context.apks
        orphan = apks.put([b"an upload the server never catalogued"])
        recent = apks.put([b"an upload still on its way"])
        two_days_ago = clock() - timedelta(days=2)
        for sha256 in (held["sha256"], orphan.sha256):
            age(apks.path(sha256), two_days_ago)
        age(apks.path(recent.sha256), clock() - timedelta(hours=1))

        context = app.state.context
        assert run_job(context, job_named(context, "cleanup"))["orphan_apks_removed"] == 1

        assert not apks.exists(orphan.sha256)
        assert apks.exists(held["sha256"]) and apks.exists(recent.sha256)


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
