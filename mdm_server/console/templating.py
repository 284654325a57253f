"""Pages: one Jinja2 environment, autoescaping on, and the filters the templates share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from mdm_server.audit.search import device_time
from mdm_server.auth.roles import role_name
from mdm_server.console.identifiers import grouped, json_bytes
from mdm_server.console.labels import action_words, actor_words, field_label, field_value
from mdm_server.console.navigation import menu_for

_environment = Environment(
    loader=PackageLoader("mdm_server.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=ChainableUndefined,  # event details differ by action: a missing key is blank
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | date | str | None) -> str:
    """A time as staff read it: in UTC, to the second, saying so (the console shows every
    time in UTC). Takes a datetime (one without a zone is UTC, as Tabard stores them) or an
    ISO 8601 text, such as an audit event's `time`."""
    if value is None or value == "":
        return "never"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo is not None else value
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.isoformat()  # a date: no time, no zone


def when_markup(value: datetime | date | str | None) -> Markup:
    """`when` for a page: a `<time>` that may break between its date and its time of day,
    never inside either."""
    text = when(value)
    date_part, _, rest = text.partition(" ")
    if not rest:
        return Markup("{}").format(text)
    moment = value if isinstance(value, datetime) else None
    stamp = f' datetime="{escape(moment.isoformat())}"' if moment else ""
    return Markup(  # noqa: S704 - both parts are escaped
        f'<time{stamp}><span class="nowrap">{escape(date_part)}</span> '
        f'<span class="nowrap">{escape(rest)}</span></time>'
    )


def plain(value: Any) -> str:
    """A value in words, never as Python writes it: lists as `a, b`, mappings as `key: value;
    ...`, yes and no, none, times by `when`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, Mapping):
        pairs = [f"{str(key).replace('_', ' ')}: {plain(item)}" for key, item in value.items()]
        return "; ".join(pairs) or "none"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain(item) for item in value) or "none"
    return str(value)


def capital(value: object) -> str:
    """A capital first letter, the rest as written (Jinja's `capitalize` lowers the rest,
    so "IT" would become "It")."""
    text = str(value)
    return text[:1].upper() + text[1:]


def sentence(value: object) -> str:
    """A message as a sentence on a page: a capital first letter and a full stop. The API's
    messages are written lower-case, to be read after `error:`."""
    text = str(value).strip()
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?)" else f"{text}."


def dotted(value: object) -> Markup:
    """A dotted name (`transaction.person_search`, `device.min_android_version`) that may
    break after a dot, never inside a part."""
    parts = re.split(r"(?<=\.)", str(value))  # each part keeps its dot
    return Markup("<wbr>").join(escape(part) for part in parts)


def short_id(value: object) -> str:
    """The first eight characters of an id, as the CLI shows them and every command takes."""
    return str(value)[:8]


def outcome(value: str | None) -> str:
    """A transaction's recorded outcome in words: `refused:purpose_not_allowed` is
    `refused: purpose not allowed`."""
    if not value:
        return ""
    kind, _, why = value.partition(":")
    words = kind.replace("_", " ")
    return f"{words}: {why.replace('_', ' ')}" if why else words


def ago(value: datetime | None, now: datetime) -> str:
    """How long before `now`, in the largest whole unit: a hint to go beside a time (`when`),
    never in its place. Blank for no time, or for one ahead of `now` (a skewed clock)."""
    if value is None:
        return ""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return ""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "under a minute ago"


def since(value: datetime | None, now: datetime, *, stacked: bool = False) -> Markup:
    """A time as `when` writes it, to the second with its zone, and how long ago in brackets
    after it (under it, `stacked`, in a table cell); `never` for no time."""
    if value is None:
        return Markup("never")
    hint = ago(value, now)
    if not hint:
        return when_markup(value)
    if stacked:  # under the time, free to wrap in a narrow column
        return Markup('{}<br><span class="small muted">({})</span>').format(
            when_markup(value), hint
        )
    return Markup('{} <span class="small muted nowrap">({})</span>').format(
        when_markup(value), hint
    )


def thousands(value: int | float) -> str:
    return f"{value:,}"


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """The noun that agrees with `count`: `transaction` for 1, `transactions` for any other."""
    return singular if count == 1 else (plural or f"{singular}s")


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """A count in words: `1 transaction`, `0 transactions`, `2,400 hashes` (`plural` where
    adding an s is wrong)."""
    return f"{count:,} {noun(count, singular, plural)}"


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
    "lost": "bad",
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


_environment.filters.update(
    when=when_markup,
    when_text=when,  # in attributes (title="...")
    thousands=thousands,
    counted=counted,
    plain=plain,
    short_id=short_id,
    outcome=outcome,
    dotted=dotted,
    grouped=grouped,
    json_bytes=json_bytes,
    noun=noun,
    stamp=when,  # an event's instant, inside <time class="instant"> (event_time.html)
    sentence=sentence,
    capital=capital,
    role_name=role_name,  # .one, .many, .a, .title: a role in words, never its code
    field_label=field_label,
    action_words=action_words,
)
_environment.globals.update(
    tone=TONES, device_time=device_time, field_value=field_value, actor_words=actor_words
)


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
        since=lambda value, stacked=False: since(value, now, stacked=stacked),
        csrf_token=getattr(principal, "csrf_token", values.get("csrf_token", "")),
    )
    path = request.url.path
    here = [
        item.href
        for item in values["menu"]
        if path == item.href or path.startswith(item.href + "/")
    ]
    values["current"] = max(here, key=len, default=None)  # the most specific menu item
    compiled = _environment.get_template(template)
    if is_htmx(request) and "fragment" in compiled.blocks:
        context = compiled.new_context(values)
        body = "".join(compiled.blocks["fragment"](context))
    else:
        body = compiled.render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)
