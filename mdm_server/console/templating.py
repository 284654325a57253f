"""Pages: one Jinja2 environment, autoescaping on, and the filters the templates share."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

from mdm_server.audit.search import device_time
from mdm_server.console.navigation import menu_for

_environment = Environment(
    loader=PackageLoader("mdm_server.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=ChainableUndefined,  # event details differ by action: a missing key is blank
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | date | None) -> str:
    """A time as staff read it: UTC, to the minute."""
    if value is None:
        return "never"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def stamp(value: str | datetime | None) -> str:
    """An instant from an event (RFC 3339 text or a datetime) as people read it: UTC, to the
    second. Text that is not a time is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None, now: datetime) -> str:
    """How long ago, in the largest whole unit."""
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def thousands(value: int | float) -> str:
    return f"{value:,}"


# The tone (good, warn, bad, info, muted) each status is shown in, wherever it appears: badges
# by their class, chart bars by their colour. Each badge also carries its word.
TONES: dict[str, str] = {
    "compliant": "good",
    "in_grace": "warn",
    "incompatible": "warn",
    "non_compliant": "bad",
    "unknown": "muted",
    "not_evaluated": "muted",
    "not_applicable": "muted",
    "active": "good",
    "retired": "muted",
    "wiped": "bad",
    "within an hour": "good",
    "within a day": "good",
    "within a week": "warn",
    "within 30 days": "bad",
    "over 30 days ago": "bad",
    "never": "muted",
    "under 2 months": "good",
    "2 to 6 months": "warn",
    "6 to 12 months": "bad",
    "over a year": "bad",
    "succeeded": "good",
    "failed": "bad",
    "cancelled": "muted",
    "expired": "bad",
    "pending_approval": "warn",
    "queued": "info",
    "delivered": "info",
    "open": "warn",
    "dismissed": "muted",
    "escalated": "bad",
}


_environment.filters.update(when=when, thousands=thousands, stamp=stamp)
_environment.globals.update(tone=TONES, device_time=device_time)


def is_htmx(request: Request) -> bool:
    """Whether htmx asked for a fragment (and did not ask to restore history)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    template: str,
    *,
    principal: Any = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page, or the `fragment` block alone when htmx asked for part of one."""
    now = request.app.state.context.clock()
    values.update(
        principal=principal,
        menu=menu_for(principal.role) if principal is not None else [],
        path=request.url.path,
        now=now,
        ago=lambda value: ago(value, now),
        csrf_token=getattr(principal, "csrf_token", values.get("csrf_token", "")),
    )
    compiled = _environment.get_template(template)
    if is_htmx(request) and "fragment" in compiled.blocks:
        context = compiled.new_context(values)
        body = "".join(compiled.blocks["fragment"](context))
    else:
        body = compiled.render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)
