"""Layering: stricter wins unless a layer overrides, provenance names the layer, and merging
is associative where DESIGN says so."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Layer, PolicyDocument, parse_policy, resolve
from policies.document import QUALITY_ORDER
from policies.layering import STRATEGIES, flatten, merge, unflatten
from tests.policies.strategies import VALUES, documents


def _doc(**sections: Any) -> PolicyDocument:
    return parse_policy({"name": "layer", **sections})


def _strictest(strategy: str, values: list[Any]) -> Any:
    if strategy == "max":
        return max(values)
    if strategy == "min":
        return min(values)
    if strategy == "any_true":
        return any(values)
    if strategy == "all_true":
        return all(values)
    if strategy == "quality":
        return max(values, key=QUALITY_ORDER.index)
    if strategy == "version_max":
        return max(values, key=lambda text: tuple(int(part) for part in text.split(".")))
    raise AssertionError(strategy)


SCALAR = {"max", "min", "any_true", "all_true", "quality", "version_max"}
# What "stricter" means for each setting, stated here independently of the engine's table.
STRICTER: dict[str, str] = {
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


def test_every_setting_has_a_merge_rule_and_a_test_strategy() -> None:
    def leaves(model: type[Any], prefix: str = "") -> set[str]:
        out = set()
        for name, info in model.model_fields.items():
            path = f"{prefix}{name}"
            if path in STRATEGIES:
                out.add(path)
                continue
            inner = [
                arg
                for arg in getattr(info.annotation, "__args__", ())
                if hasattr(arg, "model_fields")
            ]
            if inner:
                out |= leaves(inner[0], path + ".")
        return out

    top = {"schema_version", "name", "description", "override"}
    settings_in_schema = leaves(PolicyDocument) - top
    assert settings_in_schema == set(STRATEGIES)
    assert set(VALUES) == set(STRATEGIES) == set(STRICTER)


@settings(max_examples=300, deadline=None)
@given(st.lists(documents(), min_size=1, max_size=4))
def test_stricter_wins_without_overrides(layers: list[PolicyDocument]) -> None:
    resolved = resolve([Layer(f"layer{i}", doc) for i, doc in enumerate(layers)])
    for path, strategy in STRICTER.items():
        values = [flatten(doc)[path] for doc in layers if path in flatten(doc)]
        if not values:
            assert path not in resolved.settings
            continue
        got = resolved.settings[path]
        if strategy in SCALAR:
            assert got == _strictest(strategy, values), path
            source = resolved.provenance[path].layers[0]
            assert flatten(layers[int(source.removeprefix("layer"))])[path] == got
        elif strategy == "specific":
            assert got == values[-1]
        elif strategy == "intersect":
            assert set(got) == set.intersection(*(set(v) for v in values))
        elif strategy == "union":
            assert set(got) == set().union(*values)
        elif strategy == "apps":
            blocked = set(resolved.settings.get("secure_side.blocked_apps") or ())
            assert {a["package"] for a in got} == set.intersection(
                *({a["package"] for a in v} for v in values)
            ) - blocked
            for app in got:
                same = [a for v in values for a in v if a["package"] == app["package"]]
                required = any(a.get("assignment") == "required" for a in same)
                assert (app.get("assignment") == "required") == required
                codes = [a["min_version_code"] for a in same if "min_version_code" in a]
                assert app.get("min_version_code") == max(codes, default=None)
        elif strategy == "ladders":
            for severity, steps in got.items():
                for step in steps:
                    offered = [
                        s["after_hours"]
                        for v in values
                        for s in v.get(severity, [])
                        if s["action"] == step["action"]
                    ]
                    assert step["after_hours"] == min(offered)


@settings(max_examples=300, deadline=None)
@given(documents(name="a"), documents(name="b"), documents(name="c"))
def test_merging_is_associative_without_overrides(
    a: PolicyDocument, b: PolicyDocument, c: PolicyDocument
) -> None:
    left = merge(merge(a, b), c)
    right = merge(a, merge(b, c))
    assert flatten(left) == flatten(right)


@settings(max_examples=200, deadline=None)
@given(documents(name="base"), documents(name="device", overrides=True))
def test_an_override_stands_as_given(base: PolicyDocument, device: PolicyDocument) -> None:
    resolved = resolve([Layer("fleet", base), Layer("device:1", device)])
    given_here = flatten(device)
    for path in device.overridden(given_here):
        assert resolved.settings[path] == given_here[path]
        if path in flatten(base):
            assert resolved.provenance[path].how == "override"


def test_provenance_says_which_layer_and_how() -> None:
    fleet = _doc(
        device={"passcode": {"min_length": 6}, "max_security_patch_age_days": 180},
        secure_side={"offline_grace_hours": 12},
        appropriate_use={"policy_text_version": "2026.1"},
    )
    group = _doc(
        device={"passcode": {"min_length": 8}, "max_security_patch_age_days": 365},
        appropriate_use={"policy_text_version": "2026.2"},
        personal_side={"blocked_apps": ["com.example.spyware"]},
    )
    device = _doc(
        secure_side={"offline_grace_hours": 36}, override=["secure_side.offline_grace_hours"]
    )
    resolved = resolve(
        [Layer("fleet", fleet), Layer("group:cid", group), Layer("device:4f2a", device)]
    )

    how = {path: (p.layers, p.how) for path, p in resolved.provenance.items()}
    assert how["device.passcode.min_length"] == (("group:cid",), "stricter")
    assert how["device.max_security_patch_age_days"] == (("fleet",), "kept")
    assert how["secure_side.offline_grace_hours"] == (("device:4f2a",), "override")
    assert how["appropriate_use.policy_text_version"] == (("group:cid",), "replaced")
    assert how["personal_side.blocked_apps"] == (("group:cid",), "set")
    assert resolved.settings["secure_side.offline_grace_hours"] == 36
    assert resolved.settings["device.max_security_patch_age_days"] == 180
    assert resolved.layers == ("fleet", "group:cid", "device:4f2a")


def test_override_true_covers_every_setting_the_layer_sets() -> None:
    fleet = _doc(device={"passcode": {"min_length": 8}}, secure_side={"camera_allowed": False})
    device = _doc(device={"passcode": {"min_length": 6}}, override=True)
    resolved = resolve([Layer("fleet", fleet), Layer("device:1", device)])
    assert resolved.settings["device.passcode.min_length"] == 6
    assert resolved.settings["secure_side.camera_allowed"] is False  # not set by the override


def test_combined_lists_and_transaction_types() -> None:
    fleet = _doc(
        device={"allowed_models": ["SM-J510FN", "SM-J530F", "SM-T580"]},
        secure_side={
            "allowed_apps": [
                {
                    "package": "uk.police.pnc.mobile",
                    "managed_config": {"env": "live", "markers": False},
                },
                {"package": "uk.police.statements"},
            ]
        },
        appropriate_use={
            "transaction_types": {
                "person_search": {"purposes": ["INVESTIGATION", "INTELLIGENCE"]},
                "vehicle_search": {"purposes": ["ROAD_TRAFFIC"]},
            }
        },
    )
    group = _doc(
        device={"allowed_models": ["SM-T580", "SM-J530F", "SM-G930F"]},
        secure_side={
            "allowed_apps": [
                {"package": "uk.police.pnc.mobile", "managed_config": {"markers": True}}
            ]
        },
        appropriate_use={
            "transaction_types": {
                "person_search": {
                    "purposes": ["INTELLIGENCE", "SAFEGUARDING"],
                    "incident_reference_required": True,
                },
                "incident_lookup": {"purposes": ["DEPLOYMENT"]},
            }
        },
    )
    settings_ = resolve([Layer("fleet", fleet), Layer("group:g", group)]).settings
    assert settings_["device.allowed_models"] == ["SM-J530F", "SM-T580"]
    assert settings_["secure_side.allowed_apps"] == [
        {"package": "uk.police.pnc.mobile", "managed_config": {"env": "live", "markers": True}}
    ]
    types = settings_["appropriate_use.transaction_types"]
    assert types["person_search"] == {
        "purposes": ["INTELLIGENCE"],
        "incident_reference_required": True,
    }
    assert set(types) == {"person_search", "vehicle_search", "incident_lookup"}


@settings(max_examples=200, deadline=None)
@given(documents())
def test_a_document_round_trips_through_its_settings(document: PolicyDocument) -> None:
    assert flatten(unflatten(flatten(document), name="copy")) == flatten(document)
