"""Device certificate renewal. The device's key never leaves it and never changes, so renewal
is the CA certifying the same public key again, with a later expiry, before the current
certificate runs out. Authentication always uses a device's newest unrevoked certificate,
so the device need do nothing (it is told its newest certificate at check-in); the earlier
certificate stays on record until it lapses.

After the device CA is rotated (`tabard keys rotate device-ca`), a device whose newest
certificate was issued before the current CA took over is certified again by the current CA
however long its certificate has left, a batch at a time, so the fleet moves to the new CA
within a run or two of the renewal job. Never commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import load_pem_x509_certificate
from sqlalchemy import false, func, or_
from sqlmodel import Session, col, select

from mdm_server.audit.service import SCHEDULER, record
from mdm_server.crypto.ca import DeviceCA
from mdm_server.devices.models import Device, DeviceCertificate, DeviceState


def renew_certificates(
    session: Session,
    *,
    ca: DeviceCA,
    days: int,
    window: timedelta,
    now: datetime,
    limit: int = 200,
    ca_since: datetime | None = None,
) -> int:
    """Certify again the key of up to `limit` active devices whose newest unrevoked
    certificate ends within `window`, or was issued no later than `ca_since` (when `ca` took
    over from an older CA); each renewal audited. Devices whose every certificate is revoked are
    left alone: revocation is not undone by time."""
    # A certificate issued now counts as the new CA's only if `now` is past the takeover;
    # else a job whose clock reading came first would certify the same devices for ever.
    recertify = ca_since is not None and ca_since < now
    newest = (
        select(
            col(DeviceCertificate.device_id).label("device_id"),
            func.max(DeviceCertificate.not_after).label("not_after"),
        )
        .where(col(DeviceCertificate.revoked_at).is_(None))
        .group_by(col(DeviceCertificate.device_id))
        .subquery()
    )
    query = (
        select(Device, DeviceCertificate)
        .join(newest, newest.c.device_id == col(Device.id))
        .join(
            DeviceCertificate,
            (col(DeviceCertificate.device_id) == col(Device.id))
            & (col(DeviceCertificate.not_after) == newest.c.not_after)
            & col(DeviceCertificate.revoked_at).is_(None),
        )
        .where(col(Device.state) == DeviceState.active)
        .where(
            or_(
                newest.c.not_after <= now + window,
                col(DeviceCertificate.issued_at) <= ca_since if recertify else false(),
            )
        )
        .where(newest.c.not_after > now)
        .order_by(newest.c.not_after)
        .limit(limit)
    )
    renewed = 0
    for device, current in session.exec(query).all():
        public_key = load_pem_x509_certificate(current.certificate_pem.encode()).public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        issued = ca.certify(public_key, device_id=device.id, now=now, days=days)
        session.add(DeviceCertificate.issued(device.id, issued, now=now))
        record(
            session,
            actor=SCHEDULER,
            action="device.certificate_renewed",
            now=now,
            target_type="device",
            target_id=device.id,
            detail={
                "serial": device.serial,
                "previous_certificate": current.serial_number,
                "previous_not_after": current.not_after.isoformat(),
                "certificate": issued.serial_number,
                "not_after": issued.not_after.isoformat(),
                "reason": "expiring" if current.not_after <= now + window else "ca_rotated",
                "ca_sha256": ca.fingerprint_sha256,
            },
        )
        renewed += 1
    return renewed
