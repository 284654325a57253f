"""One error hierarchy and one handler: every failure reaches the client as
`{"error": CODE, "detail": ...}` with a 4xx that says what to fix, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("tabard.errors")

Detail = str | Mapping[str, Any] | Sequence[Any]


class TabardError(Exception):
    """Base of every error the API reports on purpose.

    `keep_changes` marks errors whose unit of work must still commit, such as a failed login
    whose attempt counter and audit event have to survive the refusal.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: Detail,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else self.code)
        self.detail = detail
        self.error_code = code or self.code
        self.headers = dict(headers or {})
        self.keep_changes = keep_changes


class InvalidRequestError(TabardError):
    status = 400
    code = "invalid_request"


class AuthenticationError(TabardError):
    status = 401
    code = "unauthenticated"

    def __init__(self, detail: Detail, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(detail, **kwargs)


class PermissionDeniedError(TabardError):
    status = 403
    code = "forbidden"


class NotFoundError(TabardError):
    status = 404
    code = "not_found"


class UnprocessableError(TabardError):
    """Well-formed, but not acceptable: the detail lists what to fix."""

    status = 422
    code = "invalid_request"


class ConflictError(TabardError):
    status = 409
    code = "conflict"


class GoneError(TabardError):
    status = 410
    code = "gone"


class PayloadTooLargeError(TabardError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(TabardError):
    status = 415
    code = "unsupported_media_type"


class TooManyAttemptsError(TabardError):
    """Refused without being tried: the caller must wait (`Retry-After` says how long)."""

    status = 429
    code = "too_many_attempts"


class ServiceUnavailableError(TabardError):
    status = 503
    code = "unavailable"


def quoted(value: object, *, limit: int = 64) -> str:
    """Something the caller sent, quoted in a message for people: characters that do not
    print shown as U+FFFD rather than as Python escapes, and cut at `limit` characters."""
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return f"'{text}'"


def error_body(code: str, detail: Detail) -> dict[str, Any]:
    return {"error": code, "detail": detail}


class Problem(BaseModel):
    """One thing to fix, and where."""

    field: str = Field(description="The field at fault, dotted (`target.device`), or `body`.")
    problem: str = Field(description="What is wrong with it, in words.")


class ProblemDetail(BaseModel):
    """A refusal with more to say than one sentence: `message`, and facts beside it."""

    model_config = ConfigDict(extra="allow")

    message: str


class ErrorBody(BaseModel):
    """Every error Tabard answers, whatever its status."""

    error: str = Field(description="A stable code to act on, such as `device_not_found`.")
    detail: str | list[Problem] | ProblemDetail = Field(
        description="What went wrong and what to do: a sentence, the located problems (422), "
        "or an object with a `message`."
    )


# What each status means on any route that may answer it.
ERROR_STATUSES: dict[int, str] = {
    400: "Not usable as sent (a body that is not JSON, a value that cannot apply here).",
    401: "Not authenticated: no, an expired or an invalid access token (staff) or device "
    "assertion (devices).",
    403: "Authenticated, but this role may not do this here, or the account must first "
    "change its password.",
    404: "Nothing has that id, serial, name or number.",
    409: "Conflicts with the current state: already done, under way, or ambiguous.",
    410: "No longer available.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not of a type this route takes: `detail` names the one it does.",
    422: "Well-formed but not acceptable: `detail` lists each problem with its field, or says "
    "what to change.",
    429: "Too many failed attempts from this address: not tried; try again after `Retry-After` "
    "seconds.",
    503: "A service this needs is unavailable; try again.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route that may answer these error statuses."""
    return {
        status: {"model": ErrorBody, "description": ERROR_STATUSES[status]} for status in statuses
    }


# Renders an error as a page for a browser: (request, status, code, detail, headers).
HtmlErrorRenderer = Callable[[Request, int, str, Detail, dict[str, str]], Response]


def render_errors_as_html(app: FastAPI, prefix: str, renderer: HtmlErrorRenderer) -> None:
    """Answer errors under `prefix` (the console) with pages instead of JSON."""
    app.state.html_errors = (prefix, renderer)


async def _reply(
    request: Request, status: int, code: str, detail: Detail, headers: dict[str, str] | None
) -> Response:
    html = getattr(request.app.state, "html_errors", None)
    if html is not None and request.url.path.startswith(html[0]):
        renderer: HtmlErrorRenderer = html[1]
        # A page may look up who is signed in (its menu): off the event loop.
        return await run_in_threadpool(renderer, request, status, code, detail, dict(headers or {}))
    return JSONResponse(error_body(code, detail), status_code=status, headers=headers or None)


# Pydantic's prefixes for a validator's own words: Python talking, not Tabard.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def problem_text(message: object) -> str:
    """A pydantic message as words for people: without Python's `Value error, ` prefix."""
    text = str(message)
    for prefix in _PYDANTIC_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def located(errors: Sequence[Any], *, where: str = "body") -> list[dict[str, str]]:
    """Pydantic errors as `{"field", "problem"}`, without the offending input values, which
    may be secrets."""
    found = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        found.append({"field": ".".join(loc) or where, "problem": problem_text(err.get("msg"))})
    return found


async def _tabard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TabardError)
    return await _reply(request, exc.status, exc.error_code, exc.detail, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        said = "the request body is not valid JSON"
        return await _reply(request, 400, "malformed_json", said, None)
    return await _reply(request, 422, "invalid_request", located(errors), None)


async def _model_error(request: Request, exc: Exception) -> Response:
    """A model built inside a route or service from what the caller sent (a reference too
    short to be a device, say) refused it: the caller's mistake, so a located 422."""
    assert isinstance(exc, ValidationError)
    log.info("%s refused by %s inside %s", request.method, exc.title, request.url.path)
    return await _reply(request, 422, "invalid_request", located(exc.errors()), None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        400: "malformed_body",
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthenticated",
        413: "payload_too_large",
    }
    code = codes.get(exc.status_code, "http_error")
    detail: Detail = exc.detail
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = f"no route for {request.url.path}"
    elif exc.status_code == 405:
        allowed = _methods_allowed(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; use {' or '.join(allowed)}"
    elif exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # FastAPI's body reader failed on it: JSON nested past what the parser can follow.
        detail = "the request body is nested too deeply to read"
    return await _reply(request, exc.status_code, code, detail, headers)


def _methods_allowed(request: Request) -> list[str]:
    """Every method served at the path template the request matched: Starlette names only
    the first route's, though GET and POST of one resource are often two routes."""
    routes = list(iter_route_contexts(request.app.routes))
    template = next(
        (r.path_format for r in routes if r.matches(request.scope)[0] != Match.NONE), None
    )
    methods = {m for r in routes if r.path_format == template for m in (r.methods or ())}
    return sorted(methods - {"HEAD"})


async def _unstorable(request: Request, exc: Exception) -> Response:
    """A value the schema allows that the database cannot hold: an integer past 64 bits
    (SQLite raises OverflowError, PostgreSQL a DataError), a date past year 9999, a NUL
    character in text (PostgreSQL). The caller's to change; the transaction rolled back."""
    log.info("%s %s: a value could not be stored (%s)", request.method, request.url.path, exc)
    return await _reply(
        request,
        422,
        "out_of_range",
        "a value given is outside what can be stored: a number or date too large, or text "
        "with a NUL character; give a smaller one",
        None,
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", "-")
    log.exception(
        "unhandled error in %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        extra={"request_id": request_id},  # answered outside the middleware that stamps it
    )
    # Starlette answers this outside every middleware, so it adds the headers they would.
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Request-ID": request_id,
    }
    return await _reply(
        request, 500, "internal_error", f"the server failed; quote request id {request_id}", headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through one place."""
    app.add_exception_handler(TabardError, _tabard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _model_error)
    app.add_exception_handler(OverflowError, _unstorable)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
