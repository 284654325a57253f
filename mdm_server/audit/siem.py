"""The SIEM feed: every audit event, in sequence order, to the security operations centre's
collector, from a cursor kept in the database.

Each event goes with its sequence number and its RFC 9162 leaf hash (SHA-256 of 0x00 and its
canonical bytes), and the canonical bytes themselves, so the SOC can check what it holds
against the log's signed checkpoints. The cursor moves only after the collector has taken a
batch: a collector that is down, or refuses, gets the same events again at the next run, and
every event after the cursor when it returns, in order.

Two kinds of collector:
- syslog, RFC 5424 messages framed by octet counting (RFC 6587) over TCP, with TLS (RFC 5425)
  or, on a trusted network only, without. A batch counts as taken when the collector, having
  read to the end of what was sent, closes its side in order; a reset or a timeout is not.
- http(s): the batch POSTed as JSON lines; taken when the answer is 2xx.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select

from mdm_server.audit.merkle import leaf_hash
from mdm_server.audit.models import AuditEvent, SiemCursor
from mdm_server.config import Settings
from mdm_server.db import Database

# RFC 5424: facility 13 is "log audit"; severity 6 is informational.
PRIORITY = 13 * 8 + 6
APP_NAME = "tabard"
MSG_ID = "audit"
# Structured data names need an enterprise number; 32473 is the one RFC 5612 sets aside for
# examples and documentation, and no one else's.
SD_ID = "tabard@32473"
BOM = b"\xef\xbb\xbf"  # RFC 5424 section 6.4: an UTF-8 MSG starts with it
TIMEOUT_S = 10.0
ERROR_CHARS = 500


class SiemError(Exception):
    """The collector did not take the batch. The message says why, and holds no secret."""


@dataclass(frozen=True)
class Outgoing:
    """One event as the collector receives it."""

    seq: int
    leaf_hash: str
    occurred_at: datetime
    action: str
    canonical: bytes


class Collector(Protocol):
    def send(self, events: Sequence[Outgoing]) -> None:
        """Deliver `events` in order, or raise SiemError."""


def outgoing(event: AuditEvent) -> Outgoing:
    data = event.canonical.encode()
    return Outgoing(
        seq=event.seq,
        leaf_hash=leaf_hash(data).hex(),
        occurred_at=event.occurred_at,
        action=event.action,
        canonical=data,
    )


def _sd_value(value: str) -> str:
    """An RFC 5424 SD-PARAM value: '"', '\\' and ']' escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(event: Outgoing, hostname: str) -> bytes:
    """One RFC 5424 message: the event's time and action, its sequence number and leaf hash
    as structured data, and its canonical JSON as the message."""
    timestamp = event.occurred_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    data = (
        f'[{SD_ID} seq="{event.seq}" leaf="{event.leaf_hash}" action="{_sd_value(event.action)}"]'
    )
    header = f"<{PRIORITY}>1 {timestamp} {hostname} {APP_NAME} - {MSG_ID} {data} "
    return header.encode() + BOM + event.canonical


def framed(message: bytes) -> bytes:
    """Octet counting (RFC 6587 section 3.4.1, required over TLS by RFC 5425)."""
    return f"{len(message)} ".encode() + message


def json_line(event: Outgoing) -> bytes:
    line = {
        "seq": event.seq,
        "leaf_hash": event.leaf_hash,
        "time": event.occurred_at.isoformat(),
        "action": event.action,
        "event": json.loads(event.canonical),
        "canonical": event.canonical.decode(),
    }
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def display(url: str) -> str:
    """The collector's URL as shown and as the cursor's key: no query, no credentials."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class SyslogCollector:
    def __init__(self, url: str, *, ca_file: Path | None, hostname: str) -> None:
        parts = urlsplit(url)
        # Settings validated both.
        self.host, self.port = parts.hostname or "", parts.port or 0
        self.hostname = hostname
        self.tls: ssl.SSLContext | None = None
        if parts.scheme == "syslog+tls":
            self.tls = ssl.create_default_context(
                cafile=str(ca_file) if ca_file else None,
            )
            self.tls.minimum_version = ssl.TLSVersion.TLSv1_2

    def send(self, events: Sequence[Outgoing]) -> None:
        payload = b"".join(framed(syslog_message(event, self.hostname)) for event in events)
        where = f"{self.host}:{self.port}"
        try:
            raw = socket.create_connection((self.host, self.port), timeout=TIMEOUT_S)
        except OSError as exc:
            raise SiemError(f"cannot connect to {where}: {exc.strerror or exc}") from None
        try:
            if self.tls is None:
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
                _read_to_end(raw.recv)
            else:
                with self.tls.wrap_socket(raw, server_hostname=self.host) as secure:
                    secure.sendall(payload)
                    _close_tls(secure)
        except ssl.SSLCertVerificationError as exc:
            raise SiemError(
                f"{where}: its certificate is not trusted: {exc.verify_message}"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise SiemError(f"{where} did not take the batch: {exc}") from None
        finally:
            raw.close()


def _read_to_end(recv: Callable[[int], bytes]) -> None:
    """Wait for the collector to close its side: it has read everything before our end."""
    while recv(4096):
        pass


def _close_tls(secure: ssl.SSLSocket) -> None:
    """Send TLS close_notify and wait for the collector's, or for it to close the TCP
    connection in order; either way it read all that came before."""
    try:
        secure.unwrap()
    except ssl.SSLEOFError:
        return  # closed without close_notify, but in order: no reset


class HttpCollector:
    def __init__(self, url: str, *, ca_file: Path | None, token: str | None) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/x-ndjson"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )

    def send(self, events: Sequence[Outgoing]) -> None:
        body = b"".join(json_line(event) for event in events)
        headers = {**self.headers, "X-Tabard-Seq": f"{events[0].seq}-{events[-1].seq}"}
        try:
            answer = httpx.post(
                self.url, content=body, headers=headers, timeout=TIMEOUT_S, verify=self.verify
            )
        except httpx.HTTPError as exc:
            raise SiemError(f"{display(self.url)} did not answer: {exc}") from None
        if not answer.is_success:
            raise SiemError(f"{display(self.url)} answered {answer.status_code}")


def collector_for(settings: Settings) -> Collector | None:
    url = settings.siem_url
    if url is None:
        return None
    if url.startswith("syslog+"):
        hostname = urlsplit(settings.public_url).hostname or socket.gethostname()
        return SyslogCollector(url, ca_file=settings.siem_ca_file, hostname=hostname)
    token = settings.siem_http_token.get_secret_value() if settings.siem_http_token else None
    return HttpCollector(url, ca_file=settings.siem_ca_file, token=token)


@dataclass(frozen=True)
class Status:
    target: str
    last_seq: int
    head: int
    delivered_at: datetime | None
    failing_since: datetime | None
    last_error: str | None

    @property
    def backlog(self) -> int:
        return max(0, self.head - self.last_seq)


def status(session: Session, settings: Settings) -> Status | None:
    if settings.siem_url is None:
        return None
    target = display(settings.siem_url)
    cursor = session.get(SiemCursor, target) or SiemCursor(target=target)
    head = session.exec(select(func.max(col(AuditEvent.seq)))).one() or 0
    return Status(
        target=target,
        last_seq=cursor.last_seq,
        head=head,
        delivered_at=cursor.delivered_at,
        failing_since=cursor.failing_since,
        last_error=cursor.last_error,
    )


@dataclass(frozen=True)
class Forwarded:
    sent: int
    last_seq: int
    error: str | None = None


def forward(
    database: Database,
    collector: Collector,
    *,
    target: str,
    batch: int,
    now: datetime,
    max_batches: int = 20,
) -> Forwarded:
    """Send what is after the cursor, a batch at a time, until caught up (or `max_batches`,
    so one run never holds the job for long). No transaction is open while a batch is on its
    way; the cursor moves after the collector took it, or records why it did not. Runs in
    one process at a time (the scheduler's job lock)."""
    sent = 0
    with database.unit_of_work(write=False) as session:
        cursor = session.get(SiemCursor, target)
        last_seq = cursor.last_seq if cursor else 0
    for _ in range(max_batches):
        with database.unit_of_work(write=False) as session:
            events = [
                outgoing(event)
                for event in session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.seq) > last_seq)
                    .order_by(col(AuditEvent.seq))
                    .limit(batch)
                ).all()
            ]
        if not events:
            break
        try:
            collector.send(events)
        except SiemError as exc:
            error = str(exc)[:ERROR_CHARS]
            _record(database, target, now=now, error=error)
            return Forwarded(sent=sent, last_seq=last_seq, error=error)
        last_seq = events[-1].seq
        _record(database, target, now=now, last_seq=last_seq)
        sent += len(events)
    return Forwarded(sent=sent, last_seq=last_seq)


def _record(
    database: Database,
    target: str,
    *,
    now: datetime,
    last_seq: int | None = None,
    error: str | None = None,
) -> None:
    with database.unit_of_work() as session:
        cursor = session.get(SiemCursor, target) or SiemCursor(target=target)
        if error is None:
            assert last_seq is not None
            cursor.last_seq = last_seq
            cursor.delivered_at = now
            cursor.failing_since = None
            cursor.last_error = None
        else:
            cursor.last_error = error
            cursor.failing_since = cursor.failing_since or now
        session.add(cursor)
