"""Taking an APK in: stream it into the APK store, read it, then apply the catalogue's rules
in one unit of work. Outside any transaction until the bytes are stored and read, so a slow
upload holds no database lock; a refused upload leaves no bytes it brought."""

from __future__ import annotations

from collections.abc import Iterable

from mdm_server.apps import repository, service
from mdm_server.apps.apk import ApkInvalidError, inspect_apk
from mdm_server.apps.schemas import UploadResult
from mdm_server.apps.storage import StoredBlob
from mdm_server.context import AppContext


def receive(
    context: AppContext, chunks: Iterable[bytes], *, label: str | None, uploader: service.Staff
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
