"""Every table, imported in one place for Alembic and for tests."""

from __future__ import annotations

from sqlmodel import SQLModel

from mdm_server.audit.models import AuditEvent, AuditHead
from mdm_server.auth.models import RefreshToken, StaffUser
from mdm_server.devices.models import Device, DeviceAssertion, DeviceCertificate, PostureRecord
from mdm_server.enrolment.models import EnrolmentToken

metadata = SQLModel.metadata

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Device",
    "DeviceAssertion",
    "DeviceCertificate",
    "EnrolmentToken",
    "PostureRecord",
    "RefreshToken",
    "StaffUser",
    "metadata",
]
