"""Every table, imported in one place for Alembic and for tests."""

from __future__ import annotations

from sqlmodel import SQLModel

from mdm_server.appropriate_use.models import (
    DirectoryEntry,
    Flag,
    FlagNote,
    JustificationRequest,
    RosterShift,
)
from mdm_server.apps.models import App, AppSignerChange, AppVersion
from mdm_server.apps.release_models import AppRelease, AppReleaseDevice
from mdm_server.audit.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    AuditIndex,
    AuditSubject,
    AuditTreeNode,
    SiemCursor,
)
from mdm_server.auth.models import RefreshToken, StaffUser
from mdm_server.commands.models import Command
from mdm_server.console.models import ConsoleSession
from mdm_server.devices.models import (
    Device,
    DeviceAssertion,
    DeviceCertificate,
    DeviceEvent,
    DeviceEventHead,
    PostureRecord,
)
from mdm_server.enrolment.models import EnrolmentToken
from mdm_server.policies.models import (
    ComplianceChange,
    DeviceCompliance,
    EnforcementAction,
    Policy,
    PolicyAssignment,
    PolicyEpoch,
    PolicyVersion,
    ResolvedPolicyRecord,
)
from mdm_server.records.case_models import MissingPersonCase, MissingPersonCaseEntry
from mdm_server.records.models import FiledReport, FiledReportVersion, ReportAnnotation
from mdm_server.records.safeguarding_models import SafeguardingReferral
from mdm_server.scheduler.models import ScheduledJob
from mdm_server.secure.models import ContainerKey, OfficerPin, PolicyAcknowledgement, SecureSession

metadata = SQLModel.metadata

__all__ = [
    "App",
    "AppRelease",
    "AppReleaseDevice",
    "AppSignerChange",
    "AppVersion",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditIndex",
    "AuditSubject",
    "AuditTreeNode",
    "Command",
    "ComplianceChange",
    "ConsoleSession",
    "ContainerKey",
    "Device",
    "DeviceAssertion",
    "DeviceCertificate",
    "DeviceCompliance",
    "DeviceEvent",
    "DeviceEventHead",
    "DirectoryEntry",
    "EnforcementAction",
    "EnrolmentToken",
    "FiledReport",
    "FiledReportVersion",
    "Flag",
    "FlagNote",
    "JustificationRequest",
    "MissingPersonCase",
    "MissingPersonCaseEntry",
    "OfficerPin",
    "Policy",
    "PolicyAcknowledgement",
    "PolicyAssignment",
    "PolicyEpoch",
    "PolicyVersion",
    "PostureRecord",
    "RefreshToken",
    "ReportAnnotation",
    "ResolvedPolicyRecord",
    "RosterShift",
    "SafeguardingReferral",
    "ScheduledJob",
    "SecureSession",
    "SiemCursor",
    "StaffUser",
    "metadata",
]
