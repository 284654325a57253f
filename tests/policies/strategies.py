"""Hypothesis strategies for policy documents and postures."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from policies.document import ACTION_ORDER, QUALITY_ORDER, SEVERITIES
from policies.layering import STRATEGIES, unflatten

PACKAGES = st.sampled_from(
    [
        "uk.police.pnc.mobile",
        "uk.police.pocketbook",
        "uk.police.incidents",
        "com.whatsapp",
        "org.telegram.messenger",
        "com.example.spyware",
    ]
)
MODELS = st.sampled_from(["SM-J510FN", "SM-J530F", "SM-T580", "SM-G930F"])
PURPOSES = st.sampled_from(["INVESTIGATION", "INTELLIGENCE", "SAFEGUARDING", "ROAD_TRAFFIC"])
CONTRACT = st.sampled_from(
    [
        "model",
        "android_version",
        "sdk",
        "security_patch",
        "warranty_bit",
        "encrypted",
        "screen_lock",
        "usb_debugging",
        "apps.personal",
    ]
)


def _unique_list(elements: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(elements, unique=True, max_size=5)


def _app(
    package: str, config: dict[str, int], assignment: str | None, minimum: tuple[int, str] | None
) -> dict[str, Any]:
    app: dict[str, Any] = {"package": package, "managed_config": config}
    if assignment is not None:
        app["assignment"] = assignment
    if minimum is not None:
        app["min_version_code"], day = minimum
        if day:
            app["min_version_from"] = day
    return app


_apps = st.lists(
    st.builds(
        _app,
        PACKAGES,
        st.dictionaries(st.sampled_from(["mode", "env", "sync"]), st.integers(0, 3), max_size=2),
        st.sampled_from([None, "required", "optional"]),
        st.none() | st.tuples(st.integers(1, 5), st.sampled_from(["", "2026-12-01", "2026-12-14"])),
    ),
    unique_by=lambda app: app["package"],
    max_size=5,
)
_transaction_types = st.dictionaries(
    st.sampled_from(["person_search", "vehicle_search", "incident_lookup"]),
    st.builds(
        lambda purposes, required: {"purposes": purposes, "incident_reference_required": required},
        st.lists(PURPOSES, unique=True, min_size=1, max_size=3),
        st.booleans(),
    ),
    max_size=3,
)


def _ladder() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.tuples(st.sampled_from(ACTION_ORDER), st.integers(0, 200)),
        unique_by=lambda step: step[0],
        max_size=4,
    ).map(
        lambda steps: [
            {"action": action, "after_hours": hours}
            for action, hours in sorted(steps, key=lambda s: s[1])
        ]
    )


_ladders = st.dictionaries(st.sampled_from(SEVERITIES), _ladder(), max_size=4)

# A value strategy for every setting, by dotted path.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "device.passcode.min_length": st.integers(4, 16),
    "device.passcode.quality": st.sampled_from(QUALITY_ORDER),
    "device.passcode.max_failed_attempts": st.integers(3, 30),
    "device.passcode.lock_timeout_minutes": st.integers(1, 60),
    "device.min_android_version": st.sampled_from(["6.0", "7.0", "7.1.1", "8.0", "8.1", "9"]),
    "device.max_security_patch_age_days": st.integers(0, 3650),
    "device.allowed_models": _unique_list(MODELS),
    "device.checkin_interval_minutes": st.integers(1, 1440),
    "secure_side.allowed_apps": _apps,
    "secure_side.inactivity_lock_minutes": st.integers(1, 240),
    "secure_side.max_session_hours": st.integers(1, 24),
    "secure_side.offline_grace_hours": st.integers(0, 72),
    "secure_side.offline_crypto_shred_days": st.integers(1, 90),
    "secure_side.pin_max_failed_attempts": st.integers(3, 10),
    "secure_side.pin_lockout_minutes": st.integers(1, 1440),
    "secure_side.blocked_apps": _unique_list(PACKAGES).map(sorted),
    "personal_side.blocked_apps": _unique_list(PACKAGES).map(sorted),
    "personal_side.privacy_contract": _unique_list(CONTRACT),
    "appropriate_use.transaction_types": _transaction_types,
    "appropriate_use.rules.outside_shift_grace_minutes": st.integers(0, 240),
    "appropriate_use.rules.volume_own_baseline_deviations": st.floats(0.5, 20),
    "appropriate_use.rules.volume_peer_multiple": st.floats(1.5, 100),
    "appropriate_use.rules.volume_min_daily": st.integers(1, 10_000),
    "appropriate_use.justification_sample_rate": st.floats(0, 1),
    "appropriate_use.policy_text_version": st.sampled_from(["2025.1", "2026.1", "2026.2"]),
    "appropriate_use.policy_text": st.sampled_from(["Use it for policing.", "Policing only."]),
    "enforcement.ladders": _ladders,
}
for _path, _strategy in STRATEGIES.items():
    if _strategy in ("any_true", "all_true"):
        VALUES.setdefault(_path, st.booleans())


@st.composite
def documents(draw: st.DrawFn, *, name: str = "layer", overrides: bool = False) -> Any:
    """A policy layer setting a random subset of settings (and, if asked, overriding some)."""
    paths = draw(st.lists(st.sampled_from(sorted(VALUES)), unique=True, max_size=12))
    settings = {path: draw(VALUES[path]) for path in paths}
    blocked = set(settings.get("secure_side.blocked_apps") or ())
    if blocked and "secure_side.allowed_apps" in settings:  # one document may not say both
        settings["secure_side.allowed_apps"] = [
            app for app in settings["secure_side.allowed_apps"] if app["package"] not in blocked
        ]
    document = unflatten(settings, name=name)
    if overrides and paths:
        chosen = draw(st.one_of(st.just(True), st.lists(st.sampled_from(paths), unique=True)))
        document = document.model_copy(update={"override": chosen})
    return document


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=10), children, max_size=4),
        ),
        max_leaves=12,
    )


# Plausible fields with implausible values mixed in: what a buggy or hostile agent might send.
_POSTURE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.one_of(MODELS, json_values()),
    "android_version": st.one_of(
        st.sampled_from(["6.0.1", "7.0", "7.1.1", "8.1.0", "9", "x"]), json_values()
    ),
    "sdk": st.one_of(st.integers(-5, 40), json_values()),
    "security_patch": st.one_of(st.dates().map(str), json_values()),
    "knox_version": json_values(),
    "warranty_bit": st.one_of(st.integers(-1, 2), json_values()),
    "encrypted": st.one_of(st.booleans(), json_values()),
    "screen_lock": st.one_of(
        st.fixed_dictionaries(
            {
                "secure": st.booleans(),
                "type": st.sampled_from(["none", "pin", "pattern", "password", "?"]),
            },
            optional={"length": st.integers(-1, 20)},
        ),
        json_values(),
    ),
    "usb_debugging": st.one_of(st.booleans(), json_values()),
    "developer_options": st.one_of(st.booleans(), json_values()),
    "unknown_sources": st.one_of(st.booleans(), json_values()),
    "apps": st.one_of(
        st.fixed_dictionaries({"personal": st.lists(PACKAGES), "work": st.lists(PACKAGES)}),
        json_values(),
    ),
    "app_versions": st.one_of(
        st.fixed_dictionaries(
            {"work": st.dictionaries(PACKAGES, st.integers(-1, 6))},
            optional={"personal": st.dictionaries(PACKAGES, st.integers(0, 6))},
        ),
        json_values(),
    ),
    "management_mode": st.one_of(
        st.sampled_from(
            [
                "device_owner_work_profile",
                "device_owner_knox_workspace",
                "profile_owner",
                "device_owner",
                "unmanaged",
            ]
        ),
        json_values(),
    ),
    "policy_unapplied": st.one_of(st.lists(st.sampled_from(sorted(STRATEGIES))), json_values()),
}


def postures() -> st.SearchStrategy[Any]:
    plausible = st.fixed_dictionaries({}, optional=_POSTURE_FIELDS)
    return st.one_of(plausible, json_values())
