"""The server's logs as JSON lines (TABARD_LOG_FORMAT=json): one object per line, every line
written while a request is handled carrying that request's id, the same id the caller is given
in X-Request-ID and the audit log records."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mdm_server import logs
from mdm_server.config import Settings
from mdm_server.db import Database
from mdm_server.deps import PUBLIC
from tests.support import audit_events


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes, as `tabard serve` with TABARD_LOG_FORMAT=json writes it."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure_logging("INFO", "json")
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    yield written
    root.handlers[:], root.level = saved


def parsed(written: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in written.getvalue().splitlines()]


class TestFormat:
    def test_a_line_is_one_json_object_with_its_fields(self, json_lines: io.StringIO) -> None:
        logging.getLogger("tabard.example").warning(
            "device %s is %s", "R58M0001", "late", extra={"minutes": 12}
        )
        (line,) = parsed(json_lines)
        assert line["level"] == "WARNING" and line["logger"] == "tabard.example"
        assert line["message"] == "device R58M0001 is late"
        assert line["minutes"] == 12
        assert line["time"].endswith("+00:00")
        assert "request_id" not in line  # logged outside any request

    def test_an_exception_is_one_line_with_its_traceback_inside(
        self, json_lines: io.StringIO
    ) -> None:
        try:
            raise ValueError("bad value")
        except ValueError:
            logging.getLogger("tabard.example").exception("it failed")
        (line,) = parsed(json_lines)
        assert "ValueError: bad value" in line["exception"]

    def test_configuring_again_does_not_double_the_lines(self, json_lines: io.StringIO) -> None:
        logs.configure_logging("INFO", "json")
        assert len(logging.getLogger().handlers) == 1

    def test_text_stays_the_default(self) -> None:
        assert Settings().log_format == "text"

    def test_an_unknown_format_is_refused_naming_the_choices(self) -> None:
        with pytest.raises(ValidationError, match="'text' or 'json'"):
            Settings(log_format="xml")  # type: ignore[arg-type]


class TestRequestIds:
    def test_the_access_line_the_header_and_the_audit_event_share_one_id(
        self,
        app: FastAPI,
        database: Database,
        admin_headers: dict[str, str],
        json_lines: io.StringIO,
    ) -> None:
        with TestClient(app) as client:
            response = client.post(
                "/api/v1/enrolment-tokens",
                json={"group": "response", "uses": 5},
                headers={**admin_headers, "X-Request-ID": "trace-token-1"},
            )
        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == "trace-token-1"
        (access,) = [line for line in parsed(json_lines) if line["logger"] == "tabard.access"]
        assert access["request_id"] == "trace-token-1"
        assert (access["method"], access["path"], access["status"]) == (
            "POST",
            "/api/v1/enrolment-tokens",
            201,
        )
        assert access["duration_ms"] >= 0
        created = [e for e in audit_events(database) if e.request_id == "trace-token-1"]
        assert [e.action for e in created] == ["enrolment_token.created"]
        # The token itself, returned once to IT, is nowhere in the log.
        assert response.json()["token"] not in json_lines.getvalue()

    def test_a_line_logged_while_handling_carries_the_id(
        self, app: FastAPI, json_lines: io.StringIO
    ) -> None:
        def noisy() -> dict[str, str]:
            logging.getLogger("tabard.example").info("working on it")
            return {"ok": "yes"}

        def explode() -> None:
            raise RuntimeError("it broke")

        app.add_api_route("/api/v1/noisy", noisy, dependencies=[Depends(PUBLIC)])
        app.add_api_route("/api/v1/explode", explode, dependencies=[Depends(PUBLIC)])
        with TestClient(app, raise_server_exceptions=False) as client:
            client.get("/api/v1/noisy", headers={"X-Request-ID": "trace-noisy"})
            failed = client.get("/api/v1/explode", headers={"X-Request-ID": "trace-boom"})
        assert failed.status_code == 500
        lines = parsed(json_lines)
        (working,) = [line for line in lines if line["message"] == "working on it"]
        assert working["request_id"] == "trace-noisy"
        (crash,) = [line for line in lines if "unhandled error" in line["message"]]
        assert crash["request_id"] == "trace-boom" and "it broke" in crash["exception"]
        assert all(line.get("request_id") for line in lines if line["logger"] == "tabard.access")
