"""What a release has come to: each stage's devices and what became of each, read from their
install and rollback commands (whose states the devices' signed receipts set)."""

from __future__ import annotations

from sqlmodel import Session

from mdm_server.apps import release_repository as repository
from mdm_server.apps.release_models import AppRelease
from mdm_server.apps.release_schemas import (
    ReleaseDetail,
    ReleaseDevicePublic,
    ReleasePublic,
    StageProgress,
    StageTarget,
)
from mdm_server.commands.models import Command, CommandState
from mdm_server.devices.models import Device

FAILED = repository.FAILED_STATES


def public(release: AppRelease) -> ReleasePublic:
    return ReleasePublic(
        id=release.id,
        package=release.package,
        version_code=release.version_code,
        previous_version_code=release.previous_version_code,
        profile=release.profile,
        state=release.state,
        stage=release.stage,
        stage_count=len(release.stages),
        failure_threshold_pct=release.failure_threshold_pct,
        widen_every_minutes=release.widen_every_s // 60 if release.widen_every_s else None,
        created_at=release.created_at,
        created_by=release.created_by,
        halted_at=release.halted_at,
        halted_by=release.halted_by,
        halt_reason=release.halt_reason,
        rolled_back_at=release.rolled_back_at,
    )


def detail(session: Session, release: AppRelease) -> ReleaseDetail:
    """The release with each stage's devices and what became of them."""
    by_stage: dict[int, list[ReleaseDevicePublic]] = {i: [] for i in range(len(release.stages))}
    for row, device, install, back in repository.chosen_with_commands(session, release.id):
        by_stage[row.stage].append(_device_public(device, install, back))
    stages = []
    for index, stage in enumerate(release.stages):
        rows = by_stage[index]
        counts = {s: sum(1 for r in rows if r.state == s) for s in _DEVICE_STATES}
        stages.append(
            StageProgress(
                index=index,
                name=stage["name"],
                target=StageTarget.model_validate(stage["target"]).describe(),
                percent=stage["percent"],
                state=(
                    "done"
                    if index < release.stage
                    else "running"
                    if index == release.stage
                    else "waiting"
                ),
                devices=rows,
                **counts,
            )
        )
    return ReleaseDetail(**public(release).model_dump(), stages=stages)


_DEVICE_STATES = ("installed", "pending", "failed", "cancelled")


def _device_public(
    device: Device, install: Command | None, back: Command | None
) -> ReleaseDevicePublic:
    state, reason, version = "pending", None, None
    if install is not None:
        if install.state == CommandState.succeeded:
            state = "installed"
            version = (install.evidence or {}).get("version_code")
        elif install.state in FAILED:
            state = "failed"
            reason = (install.evidence or {}).get("reason") or install.state
        elif install.state == CommandState.cancelled:
            state = "cancelled"
    rollback = rollback_reason = None
    if back is not None:
        rollback = back.state
        if back.state in FAILED:
            rollback_reason = (back.evidence or {}).get("reason") or back.state
    return ReleaseDevicePublic(
        device_id=device.id,
        serial=device.serial,
        state=state,
        reason=reason,
        version_code=version,
        rollback=rollback,
        rollback_reason=rollback_reason,
    )
