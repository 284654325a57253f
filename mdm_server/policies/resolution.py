"""Resolving a device's policy: its layers (the fleet's policy, its group's, its own, each at
its current version) combined into one, cached by the versions used; what the device is
served; and the policy epoch, raised by every new version or assignment, that tells a
check-in whether it must resolve again. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server.cache import BoundedCache
from mdm_server.devices.repository import DeviceRef
from mdm_server.policies import repository
from mdm_server.policies.models import (
    Scope,
)
from mdm_server.policies.repository import LayerRow
from mdm_server.policies.schemas import (
    DevicePolicy,
)
from policies import Layer, PolicyDocument, ResolvedPolicy
from policies.layering import resolve

_SCOPE_ORDER = {Scope.fleet: 0, Scope.group: 1, Scope.device: 2}
_documents: BoundedCache[PolicyDocument] = BoundedCache(1024)
_resolutions: BoundedCache[ResolvedPolicy] = BoundedCache(4096)
# A device's layers at a policy epoch (and in a group): valid until the epoch moves on.
_device_layers: BoundedCache[tuple[ResolvedPolicy, list[LayerRow]]] = BoundedCache(20_000)


def target_label(scope: str, target: str) -> str:
    """`fleet`, `group:NAME` or `device:ID`."""
    return scope if scope == Scope.fleet else f"{scope}:{target}"


def layer_name(row: LayerRow) -> str:
    if row.scope == Scope.fleet:
        return "fleet"
    if row.scope == Scope.group:
        return f"group:{row.target}"
    return f"device:{row.target[:8]}"


def _document(session: Session, row: LayerRow) -> PolicyDocument:
    def load() -> PolicyDocument:
        return PolicyDocument.model_validate(
            repository.version_document(session, row.policy_id, row.version)
        )

    return _documents.get_or_compute((row.policy_id, row.version), load)


def resolve_device(
    session: Session, *, device_id: uuid.UUID, group: str, epoch: int | None = None
) -> tuple[ResolvedPolicy, list[LayerRow]]:
    """The device's policy now: its layers resolved, least specific first. Given the current
    policy epoch, an answer already worked out at that epoch is reused."""
    if epoch is None:
        return _resolve_device(session, device_id=device_id, group=group)
    return _device_layers.get_or_compute(
        (epoch, group, device_id),
        lambda: _resolve_device(session, device_id=device_id, group=group),
    )


def _resolve_device(
    session: Session, *, device_id: uuid.UUID, group: str
) -> tuple[ResolvedPolicy, list[LayerRow]]:
    rows = sorted(
        repository.layers_for(session, group=group, device_id=device_id),
        key=lambda row: _SCOPE_ORDER[Scope(row.scope)],
    )
    key = tuple((row.scope, row.target, row.policy_id, row.version) for row in rows)

    def compute() -> ResolvedPolicy:
        layers = [Layer(layer_name(row), _document(session, row)) for row in rows]
        return resolve(layers, name="resolved")

    return _resolutions.get_or_compute(key, compute), rows


def resolve_fleet(session: Session) -> ResolvedPolicy:
    """The fleet-wide policy alone, as every device's policy starts (no group or device
    layer: no group is named "" and no device has the nil id)."""
    rows = [
        row
        for row in repository.layers_for(session, group="", device_id=uuid.UUID(int=0))
        if row.scope == Scope.fleet
    ]
    key = tuple((row.scope, row.target, row.policy_id, row.version) for row in rows)

    def compute() -> ResolvedPolicy:
        return resolve(
            [Layer(layer_name(row), _document(session, row)) for row in rows], name="fleet"
        )

    return _resolutions.get_or_compute(key, compute)


def device_view(resolved: ResolvedPolicy) -> dict[str, Any]:
    """The part of a resolved policy a device enforces; appropriate-use thresholds and the
    enforcement ladder stay on the server."""
    full = resolved.document.model_dump(mode="json", exclude_none=True)
    view: dict[str, Any] = {
        key: full[key] for key in ("device", "secure_side", "personal_side") if key in full
    }
    use = full.get("appropriate_use", {})
    served = {
        key: use[key]
        for key in ("transaction_types", "policy_text_version", "policy_text")
        if key in use
    }
    if served:
        view["appropriate_use"] = served
    return {"schema_version": full["schema_version"], **view}


def served_version(session: Session, resolved: ResolvedPolicy, now: datetime) -> int:
    found = repository.find_resolved_id(session, resolved.digest)
    if found is not None:
        return found
    document = resolved.document.model_dump(mode="json", exclude_none=True)
    return repository.resolved_id(session, digest=resolved.digest, document=document, now=now)


def device_policy(session: Session, *, device: DeviceRef, now: datetime) -> DevicePolicy:
    """What `GET /api/v1/device/policy` serves: the device's resolved policy now."""
    resolved, _ = resolve_device(session, device_id=device.id, group=device.group_name)
    version = served_version(session, resolved, now)
    return DevicePolicy(version=version, digest=resolved.digest, policy=device_view(resolved))


def privacy_contract(resolved: ResolvedPolicy) -> list[str] | None:
    contract = resolved.settings.get("personal_side.privacy_contract")
    return list(contract) if contract is not None else None
