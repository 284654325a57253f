"""Sign-in throttling that slows a guesser to a crawl without letting a stranger lock a real
person out (OWASP Authentication Cheat Sheet, "Protect against automated attacks"; NIST SP
800-63B §5.2.2, rate limiting that does not lock out the subscriber).

Failed sign-ins are counted per (account, address): after a few free failures each further
attempt from that address on that account waits twice as long as the last, up to a cap. An
address failing on many accounts (password spraying) slows in the same way over all of them;
an account failing from many addresses (a distributed guess) slows for every address that has
never signed in to it, while addresses that have keep their way in. None of it is a lockout:
the real person, from an address that is not failing, signs in as usual.

Counts are keyed by the username as typed (case folded), whether or not such an account
exists, so an unknown username is throttled, answered and timed exactly as a known one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from mdm_server.auth.models import SignInClient
from mdm_server.config import Settings
from mdm_server.db import insert_ignoring_conflicts

_INSERT_PAIR = insert_ignoring_conflicts(
    SignInClient.__table__,  # type: ignore[attr-defined]
    index_elements=["account", "address"],
)
KNOWN_CLIENT_DAYS = 90  # an address that signed in to an account stays known this long
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Rules:
    free_per_account: int  # failures of one account from one address before delays begin
    free_per_address: int  # failures from one address, over all accounts
    spread: int  # distinct addresses failing on one account before unknown addresses slow
    base_s: float
    cap_s: float
    memory_s: int  # a failure older than this is forgotten

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            free_per_account=settings.login_free_failures,
            free_per_address=settings.login_free_failures_per_address,
            spread=settings.login_spread_addresses,
            base_s=settings.login_delay_base_s,
            cap_s=settings.login_delay_cap_s,
            memory_s=settings.login_failure_memory_s,
        )


def delay_s(failures: int, *, free: int, rules: Rules) -> float:
    """The wait after `failures` failures: nothing until `free`, then doubling to the cap."""
    if failures < free:
        return 0.0
    return float(min(rules.cap_s, rules.base_s * 2 ** min(failures - free, 40)))


def account_key(username: str) -> str:
    return username.strip().casefold()[:MAX_KEY_LENGTH]


def address_key(address: str | None) -> str:
    return (address or "unknown")[:MAX_KEY_LENGTH]


def retry_at(
    session: Session, *, username: str, address: str | None, now: datetime, rules: Rules
) -> datetime | None:
    """When this address may next try this account, or None if it may now."""
    account, client = account_key(username), address_key(address)
    since = now - timedelta(seconds=rules.memory_s)
    pair = session.get(SignInClient, (account, client))
    known = (
        pair is not None
        and pair.succeeded_at is not None
        and pair.succeeded_at > now - timedelta(days=KNOWN_CLIENT_DAYS)
    )
    waits: list[datetime] = []
    if pair is not None and pair.last_failure_at is not None and pair.last_failure_at > since:
        wait = delay_s(pair.failures, free=rules.free_per_account, rules=rules)
        waits.append(pair.last_failure_at + timedelta(seconds=wait))
    if not known:
        failures, last = session.exec(
            select(func.sum(SignInClient.failures), func.max(SignInClient.last_failure_at)).where(
                col(SignInClient.address) == client, col(SignInClient.last_failure_at) > since
            )
        ).one()
        if last is not None:
            wait = delay_s(int(failures or 0), free=rules.free_per_address, rules=rules)
            waits.append(last + timedelta(seconds=wait))
        addresses, last = session.exec(
            select(func.count(), func.max(SignInClient.last_failure_at)).where(
                col(SignInClient.account) == account, col(SignInClient.last_failure_at) > since
            )
        ).one()
        if last is not None:
            wait = delay_s(int(addresses), free=rules.spread, rules=rules)
            waits.append(last + timedelta(seconds=wait))
    latest = max(waits, default=None)
    return latest if latest is not None and latest > now else None


def failed(
    session: Session, *, username: str, address: str | None, now: datetime, rules: Rules
) -> int:
    """Count a failure of this account from this address; the failures so far."""
    pair = _pair(session, username, address, now)
    recent = pair.last_failure_at is not None and pair.last_failure_at > now - timedelta(
        seconds=rules.memory_s
    )
    pair.failures = pair.failures + 1 if recent else 1
    pair.last_failure_at = now
    session.add(pair)
    return pair.failures


def succeeded(session: Session, *, username: str, address: str | None, now: datetime) -> None:
    """The address signed in to the account: its failures there are forgiven, and it is known."""
    pair = _pair(session, username, address, now)
    pair.failures = 0
    pair.last_failure_at = None
    pair.succeeded_at = now
    session.add(pair)


def forgive(session: Session, *, username: str) -> int:
    """IT clears the account's failures from every address (the throttle lifts at once)."""
    rows = session.exec(
        select(SignInClient).where(
            col(SignInClient.account) == account_key(username), col(SignInClient.failures) > 0
        )
    ).all()
    for row in rows:
        row.failures = 0
        row.last_failure_at = None
        session.add(row)
    return len(rows)


def throttled_until(
    session: Session, *, username: str, now: datetime, rules: Rules
) -> datetime | None:
    """The latest time any address must wait for on this account (for IT to see)."""
    rows = session.exec(
        select(SignInClient).where(
            col(SignInClient.account) == account_key(username),
            col(SignInClient.last_failure_at) > now - timedelta(seconds=rules.memory_s),
        )
    ).all()
    ends = [
        row.last_failure_at
        + timedelta(seconds=delay_s(row.failures, free=rules.free_per_account, rules=rules))
        for row in rows
        if row.last_failure_at is not None
    ]
    latest = max(ends, default=None)
    return latest if latest is not None and latest > now else None


def prune(session: Session, *, now: datetime, rules: Rules) -> int:
    """Forget failures past memory and addresses no longer known; how many rows went."""
    stale = now - timedelta(seconds=rules.memory_s)
    unknown = now - timedelta(days=KNOWN_CLIENT_DAYS)
    failure, success = col(SignInClient.last_failure_at), col(SignInClient.succeeded_at)
    result = session.execute(
        delete(SignInClient).where(
            failure.is_(None) | (failure <= stale), success.is_(None) | (success <= unknown)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _pair(session: Session, username: str, address: str | None, now: datetime) -> SignInClient:
    """The row for this account and address, made if new; two sign-ins at once make one."""
    account, client = account_key(username), address_key(address)
    insert = _INSERT_PAIR[session.get_bind().dialect.name]
    session.execute(insert.values(account=account, address=client, failures=0, first_seen_at=now))
    pair = session.get(
        SignInClient, (account, client), with_for_update=True, populate_existing=True
    )
    assert pair is not None  # inserted just above, or there already
    return pair
