"""The policy document: what a compliant device is, what the secure side allows, what the
appropriate-use rules watch for, and how non-compliance is enforced. Versioned (schema 1).

Every setting is optional, because a document is one *layer* (fleet, group or device) and a
layer says only what it changes; policies.layering combines them. A setting left unset is
not enforced."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policies.settings import STRATEGIES, flatten_mapping

SCHEMA_VERSION = 1

PACKAGE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
VERSION_PATTERN = r"^\d{1,2}(\.\d{1,2}){0,2}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
PURPOSE_PATTERN = r"^[A-Z][A-Z0-9_]{0,31}$"
# What each pattern asks for, in words, for error messages.
PATTERN_HINTS = {
    PACKAGE_PATTERN: "an Android package name such as uk.police.pnc",
    VERSION_PATTERN: "an Android version such as 8.1 or 7.1.1",
    SLUG_PATTERN: "lower-case letters, digits, '-' and '_', up to 64, such as west-response",
    PURPOSE_PATTERN: "capitals, digits and '_', such as INVESTIGATION",
}
PackageName = Annotated[str, StringConstraints(pattern=PACKAGE_PATTERN, max_length=255)]


def version_key(text: object) -> tuple[int, ...] | None:
    """An Android version as numbers to compare part by part (`7.1.1` -> (7, 1, 1)); None
    for anything that is not one."""
    try:
        return tuple(int(part) for part in str(text).split(".")) if text else None
    except ValueError:
        return None


AndroidVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
PurposeCode = Annotated[str, StringConstraints(pattern=PURPOSE_PATTERN)]
TransactionTypeName = Literal[
    "person_search",
    "vehicle_search",
    "incident_lookup",
    "incident_report",
    "missing_person_report",
    "witness_statement",
    "stop_and_search",
    "incident_report_update",
    "witness_statement_annotation",
    "report_lookup",
    "missing_person_update",
    "missing_person_cases",
    "safeguarding_referral",
]
PasscodeQuality = Literal[
    "none", "something", "numeric", "numeric_complex", "alphabetic", "alphanumeric", "complex"
]
# DevicePolicyManager's password qualities, weakest first.
QUALITY_ORDER: tuple[str, ...] = (
    "none",
    "something",
    "numeric",
    "numeric_complex",
    "alphabetic",
    "alphanumeric",
    "complex",
)
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
# What enforcement may do automatically. A full wipe (factory reset) is never among them.
Action = Literal["notify", "block_secure_side", "lock_device", "wipe_secure_side"]
ACTION_ORDER: tuple[str, ...] = ("notify", "block_secure_side", "lock_device", "wipe_secure_side")
# Posture Tabard may collect from the personal side; the privacy contract picks from these.
PersonalPostureField = Literal[
    "model",
    "android_version",
    "sdk",
    "security_patch",
    "knox_version",
    "warranty_bit",
    "encrypted",
    "screen_lock",
    "usb_debugging",
    "developer_options",
    "unknown_sources",
    "apps.personal",
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Passcode(Section):
    min_length: int | None = Field(None, ge=4, le=16)
    quality: PasscodeQuality | None = None
    max_failed_attempts: int | None = Field(
        None, ge=3, le=30, description="Wrong entries before the secure side is wiped."
    )
    lock_timeout_minutes: int | None = Field(None, ge=1, le=60)


class DevicePolicy(Section):
    passcode: Passcode | None = None
    encryption_required: bool | None = None
    min_android_version: AndroidVersion | None = None
    max_security_patch_age_days: int | None = Field(None, ge=0, le=3650)
    warranty_bit_must_be_zero: bool | None = None
    usb_debugging_allowed: bool | None = None
    unknown_sources_allowed: bool | None = None
    developer_options_allowed: bool | None = None
    allowed_models: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = (
        None
    )
    checkin_interval_minutes: int | None = Field(None, ge=1, le=1440)


class AllowedApp(Section):
    package: PackageName
    assignment: Literal["required", "optional"] | None = Field(
        None,
        description="`required`: the server installs it from the catalogue on any device "
        "without it, and a device without it is not compliant. `optional` (the default): "
        "allowed on the secure side, put there by a release or from the personal side.",
    )
    min_version_code: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="The oldest versionCode allowed on the secure side; older is a finding.",
    )
    min_version_from: date | None = Field(
        None,
        description="The day `min_version_code` starts to count (until then an older version "
        "is only reported), such as a week after the release that brings it.",
    )
    managed_config: dict[str, str | int | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _a_date_needs_a_version(self) -> AllowedApp:
        if self.min_version_from is not None and self.min_version_code is None:
            raise ValueError("min_version_from needs min_version_code")
        return self


class SecureSidePolicy(Section):
    allowed_apps: list[AllowedApp] | None = None
    blocked_apps: list[PackageName] | None = Field(
        None,
        description="Apps that must never be on the secure side: the agent removes them from "
        "the work profile, and a device with one there is not compliant.",
    )
    camera_allowed: bool | None = None
    screen_capture_allowed: bool | None = None
    cross_profile_copy_paste_allowed: bool | None = None
    share_into_work_allowed: bool | None = None
    share_out_of_work_allowed: bool | None = None
    contacts_search_from_personal_allowed: bool | None = None
    separate_work_challenge: bool | None = None
    inactivity_lock_minutes: int | None = Field(None, ge=1, le=240)
    lock_on_switch_to_personal: bool | None = None
    max_session_hours: int | None = Field(None, ge=1, le=24)
    offline_grace_hours: int | None = Field(None, ge=0, le=72)
    offline_crypto_shred_days: int | None = Field(None, ge=1, le=90)
    pin_max_failed_attempts: int | None = Field(
        None, ge=3, le=10, description="Wrong secure-side PINs in a row before a lockout."
    )
    pin_lockout_minutes: int | None = Field(
        None, ge=1, le=1440, description="How long a PIN lockout lasts unless IT clears it."
    )

    @field_validator("allowed_apps")
    @classmethod
    def _unique_packages(cls, apps: list[AllowedApp] | None) -> list[AllowedApp] | None:
        names = [app.package for app in apps or []]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"lists {', '.join(duplicates)} more than once")
        return apps

    @model_validator(mode="after")
    def _not_both_allowed_and_blocked(self) -> SecureSidePolicy:
        allowed = {app.package for app in self.allowed_apps or []}
        both = sorted(allowed & set(self.blocked_apps or []))
        if both:
            raise ValueError(f"{', '.join(both)}: both in allowed_apps and in blocked_apps")
        return self


class PersonalSidePolicy(Section):
    blocked_apps: list[PackageName] | None = None
    privacy_contract: list[PersonalPostureField] | None = Field(
        None, description="Exactly what posture Tabard collects from the personal side."
    )


class TransactionType(Section):
    purposes: list[PurposeCode] = Field(min_length=1)
    incident_reference_required: bool = False


class AppropriateUseRules(Section):
    self_search: bool | None = None
    colleague_search: bool | None = None
    declared_association: bool | None = None
    protected_person: bool | None = None
    outside_shift: bool | None = None
    outside_shift_grace_minutes: int | None = Field(None, ge=0, le=240)
    missing_incident_reference: bool | None = None
    non_compliant_device: bool | None = None
    volume_own_baseline_deviations: float | None = Field(
        None,
        gt=0,
        le=20,
        description="Flag a day more than this many robust standard deviations (1.4826 x the "
        "median absolute deviation) above the officer's median day.",
    )
    volume_peer_multiple: float | None = Field(
        None, gt=1, le=100, description="Flag a day above this multiple of the peers' median."
    )
    volume_min_daily: int | None = Field(None, ge=1, le=10_000)


class AppropriateUsePolicy(Section):
    transaction_types: dict[TransactionTypeName, TransactionType] | None = None
    rules: AppropriateUseRules | None = None
    justification_sample_rate: float | None = Field(None, ge=0, le=1)
    policy_text_version: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = (
        None
    )
    policy_text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = Field(
        None,
        description="The appropriate-use policy officers acknowledge before entering the "
        "secure side, whenever policy_text_version changes.",
    )


class LadderStep(Section):
    action: Action
    after_hours: int = Field(ge=0, le=24 * 90)

    @model_validator(mode="before")
    @classmethod
    def _never_a_full_wipe(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("action") in ("wipe_device", "factory_reset"):
            raise ValueError("a full wipe is never automatic; use wipe_secure_side")
        return data


Ladder = list[LadderStep]


class Ladders(Section):
    """Per severity, the ordered steps taken while a finding of that severity stays failing."""

    low: Ladder | None = None
    medium: Ladder | None = None
    high: Ladder | None = None
    critical: Ladder | None = None

    @field_validator("low", "medium", "high", "critical")
    @classmethod
    def _steps_in_time_order(cls, steps: Ladder | None) -> Ladder | None:
        hours = [step.after_hours for step in steps or []]
        if hours != sorted(hours):
            raise ValueError("steps must be in order of after_hours")
        actions = [step.action for step in steps or []]
        if len(set(actions)) != len(actions):
            raise ValueError("each action may appear once")
        return steps


class EnforcementPolicy(Section):
    ladders: Ladders | None = None


class PolicyDocument(Section):
    schema_version: Literal[1] = 1
    name: Slug
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    device: DevicePolicy | None = None
    secure_side: SecureSidePolicy | None = None
    personal_side: PersonalSidePolicy | None = None
    appropriate_use: AppropriateUsePolicy | None = None
    enforcement: EnforcementPolicy | None = None
    override: StrictBool | list[str] = Field(
        default=False,
        description="`true`: every setting this layer sets stands as given, even where it is "
        "less strict than the layers under it. A list of settings (dotted paths): only those.",
    )

    @field_validator("override", mode="before")
    @classmethod
    def _true_false_or_list(cls, value: object) -> object:
        if not isinstance(value, bool | list):
            raise ValueError("must be true, false, or a list of settings (dotted paths)")
        return value

    @field_validator("override")
    @classmethod
    def _known_settings_set_here(
        cls, paths: bool | list[str], info: ValidationInfo
    ) -> bool | list[str]:
        if not isinstance(paths, list):
            return paths
        unknown = [path for path in paths if path not in STRATEGIES]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a setting that can be overridden")
        sections = {
            name: value.model_dump(mode="json", exclude_none=True)
            for name, value in info.data.items()
            if isinstance(value, BaseModel)
        }
        unset = [path for path in paths if path not in flatten_mapping(sections)]
        if unset:
            raise ValueError(f"lists {', '.join(unset)}, which this layer does not set")
        return paths

    def overridden(self, settings: Iterable[str]) -> frozenset[str]:
        """Which of this layer's settings stand as given."""
        if self.override is True:
            return frozenset(settings)
        return frozenset(self.override or ())


def json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of a policy document, for editors and other tools."""
    schema = PolicyDocument.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://tabard.invalid/schemas/policy-{SCHEMA_VERSION}.json",
        **schema,
        "title": "Tabard policy document",
    }
