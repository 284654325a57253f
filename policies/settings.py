"""The settings a policy document can set, by dotted path, each with the rule layering merges
it by (policies.layering describes the rules). The document checks an `override` list against
this table and layering merges by it, so both import it and neither imports the other for it."""

from __future__ import annotations

from typing import Any

STRATEGIES: dict[str, str] = {
    "device.passcode.min_length": "max",
    "device.passcode.quality": "quality",
    "device.passcode.max_failed_attempts": "min",
    "device.passcode.lock_timeout_minutes": "min",
    "device.encryption_required": "any_true",
    "device.min_android_version": "version_max",
    "device.max_security_patch_age_days": "min",
    "device.warranty_bit_must_be_zero": "any_true",
    "device.usb_debugging_allowed": "all_true",
    "device.unknown_sources_allowed": "all_true",
    "device.developer_options_allowed": "all_true",
    "device.allowed_models": "intersect",
    "device.checkin_interval_minutes": "min",
    "secure_side.allowed_apps": "apps",
    "secure_side.blocked_apps": "union",
    "secure_side.camera_allowed": "all_true",
    "secure_side.screen_capture_allowed": "all_true",
    "secure_side.cross_profile_copy_paste_allowed": "all_true",
    "secure_side.share_into_work_allowed": "all_true",
    "secure_side.share_out_of_work_allowed": "all_true",
    "secure_side.contacts_search_from_personal_allowed": "all_true",
    "secure_side.separate_work_challenge": "any_true",
    "secure_side.inactivity_lock_minutes": "min",
    "secure_side.lock_on_switch_to_personal": "any_true",
    "secure_side.max_session_hours": "min",
    "secure_side.offline_grace_hours": "min",
    "secure_side.offline_crypto_shred_days": "min",
    "secure_side.pin_max_failed_attempts": "min",
    "secure_side.pin_lockout_minutes": "max",
    "personal_side.blocked_apps": "union",
    "personal_side.privacy_contract": "intersect",
    "appropriate_use.transaction_types": "transaction_types",
    "appropriate_use.rules.self_search": "any_true",
    "appropriate_use.rules.colleague_search": "any_true",
    "appropriate_use.rules.declared_association": "any_true",
    "appropriate_use.rules.protected_person": "any_true",
    "appropriate_use.rules.outside_shift": "any_true",
    "appropriate_use.rules.outside_shift_grace_minutes": "min",
    "appropriate_use.rules.missing_incident_reference": "any_true",
    "appropriate_use.rules.non_compliant_device": "any_true",
    "appropriate_use.rules.volume_own_baseline_deviations": "min",
    "appropriate_use.rules.volume_peer_multiple": "min",
    "appropriate_use.rules.volume_min_daily": "min",
    "appropriate_use.justification_sample_rate": "max",
    "appropriate_use.policy_text_version": "specific",
    "appropriate_use.policy_text": "specific",
    "enforcement.ladders": "ladders",
}
_NOT_SETTINGS = {"schema_version", "name", "description", "override"}


def flatten_mapping(tree: dict[str, Any]) -> dict[str, Any]:
    """Every setting a document's JSON form sets, by dotted path."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        for key, item in value.items():
            path = f"{prefix}{key}"
            if item is None or (not prefix and key in _NOT_SETTINGS):
                continue
            if path in STRATEGIES:
                out[path] = item
            elif isinstance(item, dict):
                walk(path + ".", item)

    walk("", tree)
    return out
