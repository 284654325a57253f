"""The scheduled jobs: what each does, how often, and starting them with the server. Each body
works in batches, a transaction each, and returns counts of what it did."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session

from mdm_server.appropriate_use import flags
from mdm_server.apps import releases, required, uploads
from mdm_server.audit import checkpoints, handover, retention, siem
from mdm_server.audit.service import Actor
from mdm_server.audit.verify import verify as verify_log
from mdm_server.auth import passkeys, sso, throttle
from mdm_server.auth import repository as auth_repository
from mdm_server.auth import service as auth_service
from mdm_server.commands import enforcement
from mdm_server.commands import service as commands_service
from mdm_server.console import sessions as console_sessions
from mdm_server.context import AppContext
from mdm_server.devices import service as devices_service
from mdm_server.devices.renewal import renew_certificates
from mdm_server.enrolment import service as enrolment_service
from mdm_server.policies import compliance
from mdm_server.scheduler.runner import Job, log, run_job

BATCH = 200


def _in_batches(context: AppContext, step: Callable[[Session], int]) -> int:
    """Run `step` (which handles at most BATCH items) until it handles fewer."""
    total = 0
    while True:
        with context.database.unit_of_work() as session:
            done = step(session)
        total += done
        if done < BATCH:
            return total


def evaluate_compliance(context: AppContext, now: datetime) -> dict[str, int]:
    """Evaluate devices whose compliance time alone can change, then carry out the ladder
    actions that are due (DESIGN.md flow 4), so ladders advance for devices that stay away."""
    report = compliance.sweep(context.database, now=now, batch=BATCH)
    carried = notified = 0
    while True:
        with context.database.unit_of_work() as session:
            run = enforcement.carry_out_ladder(
                session, wakeups=context.wakeups, now=now, limit=BATCH
            )
        carried += run.carried_out
        notified += run.notified
        if run.carried_out + run.notified < BATCH:
            break
    return {
        "evaluated": report.devices,
        "status_changed": report.changed,
        "actions_stood_down": report.stood_down,
        "actions_carried_out": carried,
        "notified": notified,
    }


def enforce_offline_limits(context: AppContext, now: datetime) -> dict[str, int]:
    """Lock the secure side of devices silent past their policy's offline grace; crypto-shred
    those silent past its crypto-shred limit."""
    locked = shredded = 0
    after: uuid.UUID | None = None
    interval = timedelta(seconds=context.settings.checkin_interval_s)
    while True:
        with context.database.unit_of_work() as session:
            run, after = enforcement.enforce_offline_limits(
                session,
                wakeups=context.wakeups,
                checkin_interval=interval,
                now=now,
                after=after,
                limit=BATCH,
            )
        locked += run.locked
        shredded += run.shredded
        if after is None:
            return {"locked": locked, "shredded": shredded}


def expire_commands(context: AppContext, now: datetime) -> dict[str, int]:
    """Expire commands whose time to live ran out, each audited: nothing expires silently."""
    expired = _in_batches(
        context, lambda session: commands_service.expire_due(session, now=now, limit=BATCH)
    )
    return {"expired": expired}


def widen_releases(context: AppContext, now: datetime) -> dict[str, int]:
    """Move app releases that widen on a schedule on to their next stage when it is due."""
    with context.database.unit_of_work() as session:
        widened = releases.widen_due(session, wakeups=context.wakeups, now=now)
    return {"widened": widened}


def install_required_apps(context: AppContext, now: datetime) -> dict[str, int]:
    """Send the apps a device's policy requires and its work profile lacks (docs/policies.md,
    "Apps on the secure side")."""
    report = required.install_missing(
        context.database, wakeups=context.wakeups, now=now, batch=BATCH
    )
    return {"sent": report.sent, "waiting": report.waiting, "unavailable": len(report.unavailable)}


def renew_device_certificates(context: AppContext, now: datetime) -> dict[str, int]:
    """Renew certificates near their end, and certify again under the current device CA
    those an older one issued (after `tabard keys rotate device-ca`)."""
    settings = context.settings
    since, ca = context.cas.since(), context.ca  # in this order: never a CA older than `since`
    renewed = _in_batches(
        context,
        lambda session: renew_certificates(
            session,
            ca=ca,
            days=settings.device_certificate_days,
            window=timedelta(days=settings.device_certificate_renew_days),
            now=now,
            limit=BATCH,
            ca_since=since,
        ),
    )
    return {"renewed": renewed}


def expire_enrolment_tokens(context: AppContext, now: datetime) -> dict[str, int]:
    expired = _in_batches(
        context,
        lambda session: enrolment_service.record_expired_tokens(session, now=now, limit=BATCH),
    )
    return {"expired": expired}


def cleanup(context: AppContext, now: datetime) -> dict[str, int]:
    """Forget device assertion ids past their expiry, refresh tokens and console sessions
    long expired, passkey challenges nobody answered, sign-in failures past memory, and ID
    tokens past their expiry (which could not be replayed any more anyway); and APK files no
    catalogue version holds, a day on."""
    with context.database.unit_of_work() as session:
        assertions = devices_service.purge_expired_assertions(session, now=now)
        refresh = auth_service.purge_expired_refresh_tokens(session, now=now)
        console = console_sessions.purge_expired(session, now=now)
        ceremonies = passkeys.purge_expired_ceremonies(session, now=now)
        sign_ins = throttle.prune(session, now=now, rules=throttle.Rules.of(context.settings))
        id_tokens = auth_repository.delete_expired_id_tokens(session, before=now)
    apks = uploads.sweep_orphans(context, now=now)
    return {
        "assertion_ids_purged": assertions,
        "refresh_tokens_purged": refresh,
        "console_sessions_purged": console,
        "passkey_challenges_purged": ceremonies,
        "sign_in_clients_purged": sign_ins,
        "id_tokens_purged": id_tokens,
        "orphan_apks_removed": apks,
    }


def check_sso_accounts(context: AppContext, now: datetime) -> dict[str, int]:
    """Ask the force's provider about every single sign-on account holding a refresh token:
    a person it no longer knows is disabled at once, their sessions ended. The provider is
    asked outside any transaction; an unreachable provider leaves every account as it is."""
    if context.oidc is None:
        return {"checked": 0, "disabled": 0}
    with context.database.unit_of_work(write=False) as session:
        people = [
            (user.id, sso.unwrap_refresh(context.master_key, user))
            for user in auth_repository.sso_accounts_to_check(session)
        ]
    checked = disabled = 0
    actor = Actor.system("sso-check")
    for user_id, refresh_token in people:
        kept = context.oidc.still_knows(refresh_token)
        checked += 1
        with context.database.unit_of_work() as session:
            if kept is None:
                disabled += (
                    sso.gone_at_provider(session, user_id=user_id, actor=actor, now=now) is not None
                )
            elif kept != refresh_token:
                sso.keep_refresh(
                    session, keys=context.master_key, user_id=user_id, refresh_token=kept
                )
    return {"checked": checked, "disabled": disabled}


def apply_audit_retention(context: AppContext, now: datetime) -> dict[str, int]:
    """Where TABARD_AUDIT_RETENTION_DAYS is set, delete older audit events, each deletion
    recorded and signed; a batch at a time until nothing is due."""
    days = context.settings.audit_retention_days
    deleted = records = 0
    while days is not None:
        with context.database.unit_of_work() as session:
            done = retention.apply(
                session,
                days=days,
                signer=context.checkpoint_signer(),
                data_dir=context.settings.data_dir,
                now=now,
            )
        if done is None:
            break
        deleted += done.deleted
        records += 1
    return {"deleted": deleted, "deletion_records": records}


def review_appropriate_use(context: AppContext, now: datetime) -> dict[str, int]:
    """Every appropriate-use rule over the last four weeks of transactions, by the fleet's
    policy: the volume rules, and directory changes reaching transactions already made."""
    with context.database.unit_of_work() as session:
        changed = flags.review_recent(session, now=now)
    return {
        "flags_raised": sum(1 for flag in changed if flag.raised_at == now),
        "flags_updated": sum(1 for flag in changed if flag.raised_at != now),
    }


def checkpoint_audit_log(context: AppContext, now: datetime) -> dict[str, int]:
    """Sign a checkpoint of the audit log when enough events, or enough time, have passed."""
    settings = context.settings
    with context.database.unit_of_work() as session:
        if not checkpoints.due(
            session,
            now=now,
            every_s=settings.audit_checkpoint_interval_s,
            every_events=settings.audit_checkpoint_events,
        ):
            return {"checkpoints": 0}
        made = checkpoints.make(
            session, signer=context.checkpoint_signer(), data_dir=settings.data_dir, now=now
        )
    return {"checkpoints": int(made.new), "size": made.checkpoint.size}


class AuditLogDoesNotVerifyError(Exception):
    """The stored audit log no longer matches its own tree or its signed checkpoints."""


def verify_audit_log(context: AppContext, now: datetime) -> dict[str, int]:
    """What `tabard audit verify` does, every day: recompute the tree from the stored events
    and check every checkpoint. A log that does not verify fails the run, so it is audited,
    counted in the metrics and alerted on (TabardAuditLogDoesNotVerify)."""
    verifier = context.checkpoint_signer().verifier()
    with context.database.unit_of_work(write=False) as session:
        keys = handover.chain(session, verifier)
        published = checkpoints.published(context.settings.data_dir, keys)
        report = verify_log(session, verifier=verifier, published=published)
    if not report.ok:
        first = report.problems[0] if report.problems else None
        raise AuditLogDoesNotVerifyError(
            f"the audit log does not verify; first bad sequence number {report.first_bad_seq}"
            + (f": {first.message}" if first else "")
        )
    return {"events": report.events, "checkpoints": report.checkpoints}


def forward_to_siem(context: AppContext, now: datetime) -> dict[str, int]:
    """Send the SIEM collector every audit event after its cursor, in order."""
    settings = context.settings
    collector = siem.collector_for(settings)
    if collector is None or settings.siem_url is None:
        return {"sent": 0}
    done = siem.forward(
        context.database,
        collector,
        target=siem.display(settings.siem_url),
        batch=settings.siem_batch,
        now=now,
    )
    if done.error:
        log.warning("SIEM feed: %s; sending again from event %d", done.error, done.last_seq + 1)
    return {"sent": done.sent, "sent_up_to": done.last_seq, "failed": int(done.error is not None)}


def jobs(context: AppContext) -> list[Job]:
    """Every job, with how often it runs."""
    return (
        [
            Job(
                "evaluate_compliance",
                timedelta(minutes=context.settings.compliance_sweep_minutes),
                evaluate_compliance,
            ),
            Job("enforce_offline_limits", timedelta(minutes=5), enforce_offline_limits),
            Job("expire_commands", timedelta(minutes=1), expire_commands),
            Job("widen_releases", timedelta(minutes=1), widen_releases),
            Job("install_required_apps", timedelta(minutes=5), install_required_apps),
            Job("renew_device_certificates", timedelta(hours=1), renew_device_certificates),
            Job("expire_enrolment_tokens", timedelta(minutes=5), expire_enrolment_tokens),
            Job("cleanup", timedelta(minutes=5), cleanup),
            Job("review_appropriate_use", timedelta(hours=24), review_appropriate_use),
            Job("apply_audit_retention", timedelta(hours=24), apply_audit_retention),
            Job("verify_audit_log", timedelta(hours=24), verify_audit_log),
            Job(
                "checkpoint_audit_log",
                timedelta(seconds=min(10, context.settings.audit_checkpoint_interval_s)),
                checkpoint_audit_log,
                audited=False,
            ),
        ]
        + (
            [
                Job(
                    "forward_to_siem",
                    timedelta(seconds=context.settings.siem_interval_s),
                    forward_to_siem,
                    audited=False,
                )
            ]
            if context.settings.siem_url
            else []
        )
        + (
            [
                Job(
                    "check_sso_accounts",
                    timedelta(minutes=context.settings.oidc_check_minutes),
                    check_sso_accounts,
                )
            ]
            if context.settings.oidc_enabled
            else []
        )
    )


def job_named(context: AppContext, name: str) -> Job:
    return next(job for job in jobs(context) if job.name == name)


def start_scheduler(context: AppContext) -> BackgroundScheduler:
    """Start every job on its interval; says so in one log line (`tabard jobs` lists them)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduled = jobs(context)
    for job in scheduled:
        scheduler.add_job(
            run_job,
            "interval",
            args=[context, job],
            seconds=job.every.total_seconds(),
            id=job.name,
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    log.info("scheduler started: %d jobs (`tabard jobs` lists them)", len(scheduled))
    return scheduler
