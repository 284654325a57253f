"""Small helpers for tests: looking at the database, waiting, reading a QR code."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import zxingcpp
from PIL import Image
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from mdm_server.audit.models import AuditEvent
from mdm_server.db import Database


def count(database: Database, model: type[SQLModel]) -> int:
    with database.unit_of_work(write=False) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def row_counts(database: Database, *models: type[SQLModel]) -> dict[str, int]:
    return {model.__name__: count(database, model) for model in models}


def audit_events(database: Database, action: str | None = None) -> list[AuditEvent]:
    with database.unit_of_work(write=False) as session:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        if action is not None:
            query = query.where(col(AuditEvent.action) == action)
        return list(session.exec(query).all())


def error_of(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    return str(body["error"])


WAIT_S = 60.0


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `condition` until it returns something truthy (a process we do not control)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def read_qr(image: Path | IO[bytes]) -> str:
    """The text of the one QR code in an image, read as an enrolling phone's camera reads it.

    Only QR codes are looked for: a reader told to look for every format now and then finds
    a short linear barcode (ITF, Codabar) in a QR code's own modules, about once in 1,500.
    """
    (code,) = zxingcpp.read_barcodes(Image.open(image), formats=zxingcpp.BarcodeFormat.QRCode)
    return str(code.text)
