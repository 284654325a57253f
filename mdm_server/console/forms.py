"""Reading HTML forms and query strings into the API's own types.

A browser sends every field of a form, filled or not; an empty field means "not given". The
console reads them into pydantic models built from the same field types as the API, so a bad
value gets the same located 422 the API would give, shown on the page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mdm_server.errors import UnprocessableError
from mdm_server.errors import located as located_errors

Model = TypeVar("Model", bound=BaseModel)


def located(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as `{"field", "problem"}`, without the values given (may be secrets)."""
    return located_errors(exc.errors(), where="form")


def parse(model: type[Model], fields: Mapping[str, Any]) -> Model:
    """The given fields, blanks dropped, as `model`; a 422 naming each bad field otherwise."""
    given = {
        name: value.strip() if isinstance(value, str) else value
        for name, value in fields.items()
        if name in model.model_fields and value is not None and str(value).strip() != ""
    }
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise UnprocessableError(located(exc)) from None


def build(model: type[Model], **fields: Any) -> Model:
    """`model(**fields)`, with a validation failure reported as a 422 rather than a 500."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise UnprocessableError(located(exc)) from None


def utc(value: datetime | None) -> datetime | None:
    """A time from a `datetime-local` field (no zone) read as UTC, as the console shows times."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
