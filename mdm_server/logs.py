"""The server's logs: human-readable lines by default, or one JSON object per line for a log
shipper (`TABARD_LOG_FORMAT=json`). Every line written while a request is handled carries
that request's id, the one returned in `X-Request-ID` and recorded in its audit events.

What is logged is chosen where it is logged: request lines hold the method, the path (never
the query string or a header) and the status. Nothing here redacts, so nothing may rely on it.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

request_id: ContextVar[str | None] = ContextVar("tabard_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came from `extra=` and is data.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled when it was logged (if
    any), so a handler that formats later, or elsewhere, still knows it."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is not None and not hasattr(record, "request_id"):
            record.request_id = current
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the request
    id when there is one (stamped by RequestIdFilter), the record's other `extra=` fields, and
    any exception as text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """The root logger at `level`, writing to stderr in `log_format`; uvicorn's own loggers
    pass their lines to it. Safe to call again (each worker process calls it)."""
    handler = logging.StreamHandler()
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # APScheduler logs each job it adds and every run of every job at INFO; Tabard logs one
    # line when the scheduler starts, and what each run did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def uvicorn_json_log_config() -> dict[str, Any]:
    """What `tabard serve` hands uvicorn as `log_config` for JSON: its loggers lose their own
    handlers and propagate to the root logger, so every line the server writes is JSON."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
