"""The enrolment QR code: `{"server": URL, "token": SECRET, "ca_sha256": HEX}` as compact JSON."""

from __future__ import annotations

import io
import json

import segno

from mdm_server.enrolment.schemas import EnrolmentPayload


def payload_text(payload: EnrolmentPayload) -> str:
    """The exact text the QR code encodes."""
    return json.dumps(
        {"server": payload.server, "token": payload.token, "ca_sha256": payload.ca_sha256},
        separators=(",", ":"),
    )


def qr_png(payload: EnrolmentPayload, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make_qr(payload_text(payload), error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_svg(payload: EnrolmentPayload, *, scale: int = 8) -> str:
    out = io.BytesIO()
    segno.make_qr(payload_text(payload), error="m").save(
        out, kind="svg", scale=scale, border=4, xmldecl=False, title="Tabard enrolment"
    )
    return out.getvalue().decode("utf-8")
