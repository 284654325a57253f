"""Layering: the fleet default, then a group, then a device override, combined into one
resolved policy that records, per setting, which layer set it.

Merge rules, setting by setting (STRATEGIES):
- `max` / `min`: the stricter number wins (longer passcode; shorter timeouts and graces).
- `any_true`: true wins (a requirement or a rule switched on by any layer stays on).
- `all_true`: false wins (a permission refused by any layer stays refused).
- `quality`: the stronger passcode quality wins; `version_max`: the newer Android wins.
- `intersect`: allow-lists keep only what every layer allows; `union`: block-lists keep
  everything any layer blocks. The privacy contract intersects: a layer can only collect less.
- `apps`: allowed apps intersect by package; an app either layer requires is required; the
  higher minimum version stands (of equal ones, the one that counts sooner); the more specific
  layer's managed configuration wins key by key. An app blocked on the secure side by any
  layer is dropped from the allowed apps.
- `transaction_types`: types add up; a type both layers define keeps the purposes both allow
  (or, if they share none, the more specific layer's), and needs an incident reference if
  either says so.
- `ladders`: per severity, the steps of every layer; for an action in several, the earliest.
- `specific`: not a security setting (the policy text and its version): the most specific
  layer wins.

A layer with `override: true` has every setting it sets stand as given, even where less
strict; `override: [paths]` does so for the settings listed. Without overrides, merging is
associative (and tested so); with them, layers are applied in order, least specific first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from policies.document import ACTION_ORDER, QUALITY_ORDER, PolicyDocument, version_key
from policies.settings import STRATEGIES as STRATEGIES
from policies.settings import flatten_mapping as flatten_mapping

How = Literal["set", "stricter", "kept", "combined", "replaced", "override"]


@dataclass(frozen=True)
class Provenance:
    """Which layers a resolved setting comes from, and how: `set` (only one layer set it),
    `stricter` (the named layer's value was stricter), `kept` (a more specific layer tried a
    weaker value), `combined` (lists or ladders joined), `replaced` (not a security setting:
    the most specific layer's value), `override` (set as given by a layer's `override`)."""

    layers: tuple[str, ...]
    how: How


@dataclass(frozen=True)
class Layer:
    name: str  # "fleet", "group:traffic", "device:<id>"
    document: PolicyDocument


@dataclass(frozen=True)
class ResolvedPolicy:
    document: PolicyDocument
    provenance: dict[str, Provenance]
    layers: tuple[str, ...]
    digest: str = field(default="")
    settings: dict[str, Any] = field(default_factory=dict)  # flattened once, for evaluation
    # What consumers derive from the policy once and keep with it (compliance's compiled plan).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls, document: PolicyDocument, provenance: dict[str, Provenance], layers: tuple[str, ...]
    ) -> ResolvedPolicy:
        return cls(
            document,
            provenance,
            layers,
            digest=document_digest(document),
            settings=flatten(document),
        )

    @classmethod
    def single(cls, document: PolicyDocument, *, layer: str = "fleet") -> ResolvedPolicy:
        """One document as a resolved policy of a single layer."""
        provenance = {path: Provenance((layer,), "set") for path in flatten(document)}
        return cls.of(document, provenance, (layer,))


def document_digest(document: PolicyDocument) -> str:
    """A digest of what a document says (its name and description aside)."""
    content = document.model_dump(mode="json", exclude={"name", "description"})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def flatten(document: PolicyDocument) -> dict[str, Any]:
    """Every setting the document sets, by dotted path, as JSON values."""
    return flatten_mapping(document.model_dump(mode="json", exclude_none=True))


def unflatten(settings: dict[str, Any], *, name: str, description: str = "") -> PolicyDocument:
    tree: dict[str, Any] = {"name": name, "description": description}
    for path, value in settings.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return PolicyDocument.model_validate(tree)


def _stricter(key: Callable[[Any], Any], *, higher: bool) -> Callable[[Any, Any], tuple[Any, bool]]:
    """A merge keeping the stricter value; the flag says whether the specific one won."""

    def merge(base: Any, specific: Any) -> tuple[Any, bool]:
        if key(specific) == key(base):
            return base, False
        specific_wins = key(specific) > key(base) if higher else key(specific) < key(base)
        return (specific, True) if specific_wins else (base, False)

    return merge


def _intersect(base: list[Any], specific: list[Any]) -> tuple[list[Any], bool]:
    return [item for item in base if item in specific], True


def _union(base: list[Any], specific: list[Any]) -> tuple[list[Any], bool]:
    return sorted(set(base) | set(specific)), True


def _apps(base: list[dict[str, Any]], specific: list[dict[str, Any]]) -> tuple[list[Any], bool]:
    wanted = {app["package"]: app for app in specific}
    merged = [_app(app, wanted[app["package"]]) for app in base if app["package"] in wanted]
    return merged, True


def _app(base: dict[str, Any], specific: dict[str, Any]) -> dict[str, Any]:
    """One app both layers allow: required if either requires it, the higher minimum version
    (of equal ones, the one that counts sooner), configuration merged key by key."""
    app: dict[str, Any] = {"package": base["package"]}
    assignments = {base.get("assignment"), specific.get("assignment")} - {None}
    if assignments:
        app["assignment"] = "required" if "required" in assignments else "optional"
    minimums = [
        (layer["min_version_code"], layer.get("min_version_from") or "")
        for layer in (base, specific)
        if layer.get("min_version_code") is not None
    ]
    if minimums:
        code, since = max(minimums, key=_counts_soonest)
        app["min_version_code"] = code
        if since:
            app["min_version_from"] = since
    app["managed_config"] = {**base.get("managed_config", {}), **specific.get("managed_config", {})}
    return app


def _counts_soonest(minimum: tuple[int, str]) -> tuple[int, int]:
    """Orders minimum versions: the higher, then the one counting sooner (no day: now)."""
    code, day = minimum
    return code, -date.fromisoformat(day).toordinal() if day else 1


def _transaction_types(
    base: dict[str, Any], specific: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    merged = dict(base)
    for name, rule in specific.items():
        if name not in merged:
            merged[name] = rule
            continue
        shared = [purpose for purpose in merged[name]["purposes"] if purpose in rule["purposes"]]
        merged[name] = {
            "purposes": shared or list(rule["purposes"]),
            "incident_reference_required": bool(
                merged[name].get("incident_reference_required")
                or rule.get("incident_reference_required")
            ),
        }
    return dict(sorted(merged.items())), True


def _ladders(base: dict[str, Any], specific: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    merged: dict[str, Any] = {}
    for severity in sorted(set(base) | set(specific)):
        earliest: dict[str, int] = {}
        for step in [*base.get(severity, []), *specific.get(severity, [])]:
            action, hours = step["action"], int(step["after_hours"])
            earliest[action] = min(hours, earliest.get(action, hours))
        merged[severity] = [
            {"action": action, "after_hours": hours}
            for action, hours in sorted(
                earliest.items(), key=lambda item: (item[1], ACTION_ORDER.index(item[0]))
            )
        ]
    return merged, True


MERGES: dict[str, Callable[[Any, Any], tuple[Any, bool]]] = {
    "max": _stricter(lambda value: value, higher=True),
    "min": _stricter(lambda value: value, higher=False),
    "any_true": _stricter(bool, higher=True),
    "all_true": _stricter(bool, higher=False),
    "quality": _stricter(QUALITY_ORDER.index, higher=True),
    "version_max": _stricter(version_key, higher=True),  # validated: never None
    "intersect": _intersect,
    "union": _union,
    "apps": _apps,
    "transaction_types": _transaction_types,
    "ladders": _ladders,
    "specific": lambda base, specific: (specific, True),
}
_COMBINING = {"intersect", "union", "apps", "transaction_types", "ladders"}


def _combine(settings: dict[str, Any], origin: dict[str, Provenance], layer: Layer) -> None:
    given = flatten(layer.document)
    overridden = layer.document.overridden(given)
    for path, value in given.items():
        strategy = STRATEGIES[path]
        if path not in settings:
            settings[path], origin[path] = value, Provenance((layer.name,), "set")
        elif path in overridden:
            settings[path], origin[path] = value, Provenance((layer.name,), "override")
        else:
            merged, specific_won = MERGES[strategy](settings[path], value)
            previous = origin[path]
            if strategy in _COMBINING:
                origin[path] = Provenance((*previous.layers, layer.name), "combined")
            elif strategy == "specific":
                origin[path] = Provenance((layer.name,), "replaced")
            elif specific_won:
                origin[path] = Provenance((layer.name,), "stricter")
            elif merged != value:
                origin[path] = Provenance(previous.layers, "kept")
            settings[path] = merged


def resolve(layers: Sequence[Layer], *, name: str = "resolved") -> ResolvedPolicy:
    """Combine layers, least specific first, into one policy with per-setting provenance."""
    settings: dict[str, Any] = {}
    origin: dict[str, Provenance] = {}
    for layer in layers:
        _combine(settings, origin, layer)
    _blocked_wins(settings)
    description = " + ".join(layer.name for layer in layers)
    document = unflatten(dict(sorted(settings.items())), name=name, description=description)
    return ResolvedPolicy.of(
        document, dict(sorted(origin.items())), tuple(layer.name for layer in layers)
    )


def _blocked_wins(settings: dict[str, Any]) -> None:
    """An app one layer allows and another blocks on the secure side is blocked."""
    blocked = set(settings.get("secure_side.blocked_apps") or ())
    allowed = settings.get("secure_side.allowed_apps")
    if blocked and allowed:
        settings["secure_side.allowed_apps"] = [
            app for app in allowed if app["package"] not in blocked
        ]


def merge(base: PolicyDocument, specific: PolicyDocument) -> PolicyDocument:
    """Two documents combined, `specific` over `base` (provenance aside)."""
    resolved = resolve([Layer("base", base), Layer("specific", specific)], name=specific.name)
    return resolved.document
