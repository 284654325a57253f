"""Releases: a catalogue version goes out stage by stage as signed install commands, and stops
itself when a stage's installs fail beyond its threshold.

Each stage takes a share (`percent`) of the active devices its target covers, counting those
earlier stages chose. The devices it adds are drawn by ranking on a hash of the release and
the device, so widening from 50% to 100% keeps the first half and adds the rest, and two
releases pilot on different devices.
A device is chosen once per release; what became of it is its install command's state, which
its signed receipt sets. Services never commit; the request does."""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mdm_server.apps import release_repository as repository
from mdm_server.apps import repository as catalogue
from mdm_server.apps.models import AppVersion, VersionState
from mdm_server.apps.release_models import AppRelease, AppReleaseDevice, ReleaseState
from mdm_server.apps.release_schemas import (
    ReleaseCreate,
    StageTarget,
)
from mdm_server.audit.service import Actor, record
from mdm_server.commands import service as commands
from mdm_server.commands.catalogue import kind_of
from mdm_server.commands.models import Command, CommandState
from mdm_server.commands.service import Requester
from mdm_server.commands.wakeups import Wakeups
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import Device
from mdm_server.errors import ConflictError, NotFoundError
from mdm_server.short_ids import resolve_id

log = logging.getLogger("tabard.apps")
RELEASES = Actor.system("releases")  # a release halting or widening itself
FAILED = repository.FAILED_STATES


def get(session: Session, reference: str | uuid.UUID, *, for_update: bool = False) -> AppRelease:
    """A release by its id or the first 4 to 8 characters of it, as lists show them."""
    release_id = (
        reference
        if isinstance(reference, uuid.UUID)
        else resolve_id(session, AppRelease.id, reference, noun="release")
    )
    release = repository.get(session, release_id, for_update=for_update)
    if release is None:
        raise NotFoundError(f"no release {release_id}", code="release_not_found")
    return release


def available_version(session: Session, package: str, version_code: int) -> AppVersion:
    """The catalogue's version, if it may go to devices."""
    found = catalogue.version(session, package, version_code)
    if found is None:
        raise NotFoundError(
            f"{package} has no version {version_code} in the catalogue; upload it first",
            code="version_not_found",
        )
    if found.state != VersionState.available:
        raise ConflictError(
            f"{package} version {version_code} is {found.state}: its signer is not the pinned "
            "one, so it cannot be released until two IT administrators accept the new signer",
            code="version_not_available",
        )
    return found


def create(
    session: Session,
    *,
    package: str,
    body: ReleaseCreate,
    requester: Requester,
    default_threshold_pct: float,
    wakeups: Wakeups,
    now: datetime,
) -> AppRelease:
    """Start a release: its first stage's devices are sent the install at once."""
    version = available_version(session, package, body.version_code)
    running = repository.open_release(session, package)
    if running is not None:
        raise ConflictError(
            f"release {str(running.id)[:8]} of {package} is still {running.state}; roll it "
            "back, or widen it to its end, before starting another",
            code="release_open",
        )
    release = AppRelease(
        package=package,
        version_code=version.version_code,
        sha256=version.sha256,
        size=version.size,
        profile=body.profile,
        previous_version_code=repository.previous_version(session, package),
        stages=[
            _stored_stage(session, stage.model_dump(exclude_none=True)) for stage in body.stages
        ],
        failure_threshold_pct=(
            body.failure_threshold_pct
            if body.failure_threshold_pct is not None
            else default_threshold_pct
        ),
        widen_every_s=body.widen_every_minutes * 60 if body.widen_every_minutes else None,
        stage_started_at=now,
        created_at=now,
        created_by=requester.actor.name or requester.actor.type,
    )
    session.add(release)
    session.flush()
    _audit(session, release, "app.release_started", actor=requester.actor, now=now)
    _run_stage(session, release, requester=requester, wakeups=wakeups, now=now)
    return release


def _stored_stage(session: Session, stage: dict[str, Any]) -> dict[str, Any]:
    """The stage as kept: named devices resolved to their ids, so a serial that is later
    re-enrolled does not change who the stage meant."""
    target = stage["target"]
    if "devices" in target:
        target["devices"] = [str(find_device(session, ref).id) for ref in target["devices"]]
    return stage


def _run_stage(
    session: Session, release: AppRelease, *, requester: Requester, wakeups: Wakeups, now: datetime
) -> int:
    """Send the install to the devices the current stage adds; how many it added."""
    stage = release.stages[release.stage]
    target = StageTarget.model_validate(stage["target"])
    candidates = repository.population(
        session,
        devices=[uuid.UUID(d) for d in target.devices or []],
        groups=target.groups or [],
        divisions=target.divisions or [],
        fleet=bool(target.fleet),
    )
    already = {row.device_id for row in repository.chosen(session, release.id)}
    # Devices earlier stages chose count towards this stage's share: "half the fleet" is
    # half the fleet with the version, pilot included.
    share = math.ceil(len(candidates) * stage["percent"] / 100)
    need = max(0, share - sum(1 for device_id in candidates if device_id in already))
    fresh = sorted(
        (device_id for device_id in candidates if device_id not in already),
        key=lambda device_id: _rank(release.id, device_id),
    )
    added = 0
    for device_id in fresh[:need]:
        row = AppReleaseDevice(
            release_id=release.id, device_id=device_id, stage=release.stage, chosen_at=now
        )
        row.command_id = _send_install(
            session, release, device_id, requester=requester, wakeups=wakeups, now=now
        ).id
        session.add(row)
        added += 1
    session.flush()
    return added


def _rank(release_id: uuid.UUID, device_id: uuid.UUID) -> bytes:
    return hashlib.sha256(release_id.bytes + device_id.bytes).digest()


def _send_install(
    session: Session,
    release: AppRelease,
    device_id: uuid.UUID,
    *,
    requester: Requester,
    wakeups: Wakeups,
    now: datetime,
    version_code: int | None = None,
    sha256: str | None = None,
    size: int | None = None,
    allow_downgrade: bool = False,
) -> Command:
    device = session.get(Device, device_id)
    assert device is not None
    params = {
        "package": release.package,
        "profile": release.profile,
        "version_code": version_code or release.version_code,
        "sha256": sha256 or release.sha256,
        "size": size or release.size,
        "allow_downgrade": allow_downgrade,
    }
    command, _ = commands.create_or_reuse(
        session,
        device=device,
        kind=kind_of("install_app"),
        params=params,
        reason=f"release {str(release.id)[:8]}",
        requester=requester,
        wakeups=wakeups,
        now=now,
    )
    return command


def widen(
    session: Session, release: AppRelease, *, requester: Requester, wakeups: Wakeups, now: datetime
) -> AppRelease:
    """Move a running release on to its next stage."""
    if release.state != ReleaseState.running:
        raise ConflictError(
            f"the release is {release.state}; resume it before widening it",
            code="release_not_running",
        )
    if release.stage + 1 >= len(release.stages):
        raise ConflictError(
            "the release is at its last stage already", code="release_at_last_stage"
        )
    release.stage += 1
    release.stage_started_at = now
    session.add(release)
    added = _run_stage(session, release, requester=requester, wakeups=wakeups, now=now)
    _audit(
        session,
        release,
        "app.release_widened",
        actor=requester.actor,
        now=now,
        stage=release.stages[release.stage]["name"],
        devices_added=added,
    )
    return release


def halt(
    session: Session, release: AppRelease, *, actor: Actor, reason: str, now: datetime
) -> AppRelease:
    """Stop the release: installs not yet on their way are withdrawn; those a device may be
    carrying out already finish, and their receipts still count."""
    if release.state != ReleaseState.running:
        raise ConflictError(
            f"the release is {release.state}, not running", code="release_not_running"
        )
    release.state = ReleaseState.halted
    release.halted_at, release.halted_by, release.halt_reason = (
        now,
        actor.name or actor.type,
        reason,
    )
    session.add(release)
    withdrawn = _withdraw_queued(session, release, actor=actor, now=now)
    _audit(
        session,
        release,
        "app.release_halted",
        actor=actor,
        now=now,
        why=reason,
        withdrawn=withdrawn,
    )
    return release


def _withdraw_queued(session: Session, release: AppRelease, *, actor: Actor, now: datetime) -> int:
    withdrawn = 0
    for row in repository.chosen(session, release.id):
        command = session.get(Command, row.command_id) if row.command_id else None
        if command is not None and command.state == CommandState.queued:
            commands.cancel(
                session, command_id=command.id, actor=actor, reason="release halted", now=now
            )
            withdrawn += 1
    return withdrawn


def resume(
    session: Session, release: AppRelease, *, requester: Requester, wakeups: Wakeups, now: datetime
) -> AppRelease:
    """Carry on a halted release: the installs the halt withdrew are sent again, and only
    failures from now on count towards halting it again."""
    if release.state != ReleaseState.halted:
        raise ConflictError(
            f"the release is {release.state}, not halted", code="release_not_halted"
        )
    release.state = ReleaseState.running
    release.halted_at = release.halted_by = release.halt_reason = None
    release.stage_started_at = release.resumed_at = now
    session.add(release)
    for row in repository.chosen(session, release.id):
        command = session.get(Command, row.command_id) if row.command_id else None
        if command is None or command.state == CommandState.cancelled:
            row.command_id = _send_install(
                session, release, row.device_id, requester=requester, wakeups=wakeups, now=now
            ).id
            session.add(row)
    _audit(session, release, "app.release_resumed", actor=requester.actor, now=now)
    return release


def rollback(
    session: Session, release: AppRelease, *, requester: Requester, wakeups: Wakeups, now: datetime
) -> AppRelease:
    """Withdraw what has not gone out, and send the previous version back to every device that
    installed this one, allowing the downgrade; a finished release may be rolled back too.
    Where Android refuses the downgrade, that device's rollback fails with
    `INSTALL_FAILED_VERSION_DOWNGRADE` and the version stays: removing the app instead would
    lose its data."""
    if release.state == ReleaseState.rolled_back:
        raise ConflictError("the release is rolled back already", code="release_closed")
    if release.previous_version_code is None:
        raise ConflictError(
            "there is no earlier release of this app to go back to; halt this one, or release "
            "the version you want",
            code="nothing_to_roll_back_to",
        )
    previous = available_version(session, release.package, release.previous_version_code)
    _withdraw_queued(session, release, actor=requester.actor, now=now)
    release.state = ReleaseState.rolled_back
    release.rolled_back_at = now
    session.add(release)
    sent = 0
    for row, _, install, _ in repository.chosen_with_commands(session, release.id):
        if install is None or install.state != CommandState.succeeded:
            continue
        row.rollback_command_id = _send_install(
            session,
            release,
            row.device_id,
            requester=requester,
            wakeups=wakeups,
            now=now,
            version_code=previous.version_code,
            sha256=previous.sha256,
            size=previous.size,
            allow_downgrade=True,
        ).id
        session.add(row)
        sent += 1
    _audit(
        session,
        release,
        "app.release_rolled_back",
        actor=requester.actor,
        now=now,
        to_version=previous.version_code,
        devices=sent,
    )
    return release


def on_receipt(session: Session, command: Command) -> None:
    """A device's receipt for an install came in: if it was a release's, see whether the
    release must halt (its stage failing beyond the threshold) or has finished."""
    if command.type != "install_app":
        return
    row = repository.release_of_command(session, command.id)
    if row is None:
        return
    release = get(session, row.release_id, for_update=True)
    if release.state != ReleaseState.running:
        return
    now = command.completed_at or command.created_at
    chosen, failed = repository.stage_counts(
        session, release.id, row.stage, failed_since=release.resumed_at
    )
    if chosen and failed * 100 > release.failure_threshold_pct * chosen:
        share = 100 * failed / chosen
        halt(
            session,
            release,
            actor=RELEASES,
            reason=(
                f"{failed} of {chosen} installs in stage "
                f"'{release.stages[row.stage]['name']}' failed "
                f"({share:.0f}%), beyond the {release.failure_threshold_pct:g}% threshold"
            ),
            now=now,
        )
        log.warning("release %s halted itself: %s", release.id, release.halt_reason)
        return
    last = release.stage + 1 == len(release.stages)
    if last and not repository.open_installs(session, release.id):
        release.state = ReleaseState.finished
        session.add(release)
        _audit(session, release, "app.release_finished", actor=RELEASES, now=now)


def widen_due(session: Session, *, wakeups: Wakeups, now: datetime) -> int:
    """The scheduler's job: widen each running release whose stage has run its time."""
    widened = 0
    for release in repository.due_to_widen(session, now=now):
        assert release.widen_every_s is not None
        if release.stage + 1 >= len(release.stages):
            continue
        if release.stage_started_at + timedelta(seconds=release.widen_every_s) > now:
            continue
        widen(session, release, requester=Requester(RELEASES, None), wakeups=wakeups, now=now)
        widened += 1
    return widened


def _audit(
    session: Session, release: AppRelease, action: str, *, actor: Actor, now: datetime, **extra: Any
) -> None:
    record(
        session,
        actor=actor,
        action=action,
        now=now,
        target_type="app_release",
        target_id=release.id,
        detail={
            "release_id": str(release.id),
            "package": release.package,
            "version_code": release.version_code,
            "stage": release.stage,
            **extra,
        },
    )
