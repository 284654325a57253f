"""A device's posture as the policy engine reads it: every field optional, and a field a
device sends malformed read as unknown rather than refused, so evaluation never raises on
anything a device can send."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from policies.document import PersonalPostureField

ManagementMode = Literal[
    "device_owner_work_profile",  # Android 8+: a device owner beside a managed work profile
    "device_owner_knox_workspace",  # Android 7: a device owner with a licensed Knox Workspace
    "profile_owner",  # a work profile only; the personal side is the officer's
    "device_owner",  # a device owner and no secure side
    "unmanaged",
]


class ScreenLock(BaseModel):
    model_config = ConfigDict(frozen=True)

    secure: bool | None = None
    type: str | None = None
    length: int | None = None


class DevicePosture(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str | None = None
    android_version: str | None = None
    sdk: int | None = None
    security_patch: date | None = None
    knox_version: str | None = None
    warranty_bit: int | None = None
    encrypted: bool | None = None
    screen_lock: ScreenLock | None = None
    usb_debugging: bool | None = None
    developer_options: bool | None = None
    unknown_sources: bool | None = None
    apps: dict[str, list[str]] | None = None
    app_versions: dict[str, dict[str, int]] | None = None
    management_mode: ManagementMode | None = None
    policy_unapplied: list[str] | None = None

    @classmethod
    def lenient(cls, report: Mapping[str, Any] | DevicePosture | None) -> DevicePosture:
        """Read a report field by field, keeping what validates and treating the rest as
        unknown."""
        if isinstance(report, DevicePosture):
            return report
        if not isinstance(report, Mapping):
            return cls()
        try:
            return cls.model_validate(report)
        except ValidationError:
            pass
        kept: dict[str, Any] = {}
        for name, adapter in _field_adapters().items():
            if name not in report:
                continue
            try:
                kept[name] = adapter.validate_python(report[name])
            except (ValidationError, TypeError, ValueError):
                continue
        return cls.model_validate(kept)


@cache
def _field_adapters() -> dict[str, TypeAdapter[Any]]:
    """A validator per posture field, built once, for reading a report field by field."""
    return {
        name: TypeAdapter(info.annotation)
        for name, info in DevicePosture.model_fields.items()
        if info.annotation is not None
    }


# Posture fields that describe the officer's personal side, as the privacy contract names them.
PERSONAL_FIELDS: frozenset[str] = frozenset(get_args(PersonalPostureField))


def within_contract(report: Mapping[str, Any], contract: Iterable[str] | None) -> dict[str, Any]:
    """The report without what the privacy contract does not collect. Fields about Tabard's own
    agent and secure side (management mode, work apps, policy state) are always kept. With no
    contract set, everything the report schema allows is kept."""
    if contract is None:
        return _work_versions_only(dict(report))
    allowed = set(contract)
    kept = {
        key: value for key, value in report.items() if key not in PERSONAL_FIELDS or key in allowed
    }
    apps = report.get("apps")
    if isinstance(apps, Mapping) and "apps.personal" not in allowed:
        kept["apps"] = {
            profile: packages for profile, packages in apps.items() if profile != "personal"
        }
    return _work_versions_only(kept)


def _work_versions_only(report: dict[str, Any]) -> dict[str, Any]:
    """App versions are collected from the secure side only, whatever the contract says: the
    contract's `apps.personal` names the officer's packages, never which versions they run."""
    versions = report.get("app_versions")
    if isinstance(versions, Mapping) and set(versions) - {"work"}:
        report["app_versions"] = {"work": versions["work"]} if "work" in versions else {}
    return report
