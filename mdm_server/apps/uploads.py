"""Taking an APK in: stream it into the APK store, read it, then apply the catalogue's rules
in one unit of work. Outside any transaction until the bytes are stored and read, so a slow
upload holds no database lock; a refused upload leaves no bytes it brought."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from mdm_server.apps import repository, service
from mdm_server.apps.apk import ApkInvalidError, inspect_apk
from mdm_server.apps.schemas import UploadResult
from mdm_server.apps.storage import StoredBlob
from mdm_server.commands.service import Requester
from mdm_server.context import AppContext

log = logging.getLogger("tabard.apps")
# How old unheld bytes must be before the sweep removes them: far longer than any upload takes
# between storing its bytes and cataloguing them, so the sweep never races one.
ORPHAN_AGE = timedelta(days=1)


def receive(
    context: AppContext, chunks: Iterable[bytes], *, label: str | None, uploader: Requester
) -> UploadResult:
    """Store, inspect and catalogue an upload (`service.upload` says what is refused)."""
    store = context.apks
    blob = store.put(chunks, max_bytes=context.settings.apk_max_bytes)
    try:
        try:
            facts = inspect_apk(store.path(blob.sha256))
        except ApkInvalidError as exc:
            with context.database.unit_of_work() as session:
                service.record_invalid(
                    session, blob=blob, detail=exc.detail, actor=uploader.actor, now=context.clock()
                )
            raise
        with context.database.unit_of_work() as session:
            return service.upload(
                session,
                facts=facts,
                blob=blob,
                label=label,
                uploader=uploader,
                now=context.clock(),
            )
    except BaseException:
        if blob.new:
            _discard_unless_used(context, blob)
        raise


def _discard_unless_used(context: AppContext, blob: StoredBlob) -> None:
    """Remove bytes this upload added, unless a version now holds them (a held version)."""
    with context.database.unit_of_work(write=False) as session:
        if repository.digest_in_use(session, blob.sha256):
            return
    context.apks.delete(blob.sha256)


def sweep_orphans(context: AppContext, *, now: datetime) -> int:
    """Remove APK bytes no version holds, stored over a day ago, and uploads left
    half-written: what an upload leaves when the server stops between storing the bytes and
    cataloguing them (a refused upload removes its own at once). How many."""
    store = context.apks
    before = now - ORPHAN_AGE
    removed = store.drop_partial(before=before)
    old = [sha256 for sha256, stored_at in store.stored() if stored_at < before]
    if old:
        with context.database.unit_of_work(write=False) as session:
            held = repository.digests_in_use(session, old)
        for sha256 in old:
            if sha256 not in held:
                store.delete(sha256)
                removed += 1
    if removed:
        log.info("removed %d APK files no version holds", removed)
    return removed
