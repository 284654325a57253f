"""Ids as people type them (STYLE.md, "What people see"): the whole id, or its first 4 to 8
hexadecimal digits as lists show them. Anything else is refused in plain words, not with a
validation dump."""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy
from sqlmodel import Session, select

from mdm_server.errors import ConflictError, InvalidRequestError, NotFoundError

ID_PREFIX = re.compile(r"^[0-9a-fA-F]{4,8}$")
_SHOWN = 40  # of a reference echoed back in a message


def resolve_id(session: Session, id_column: Any, reference: str, *, noun: str) -> uuid.UUID:
    """The id a reference names: a whole id is returned as it is (the caller finds whether it
    exists); a prefix must start exactly one id in `id_column`. Before the first dash the id's
    text form is the same on SQLite (32 hex digits) and PostgreSQL (the dashed form)."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        pass
    shown = reference if len(reference) <= _SHOWN else reference[:_SHOWN] + "…"
    code = noun.replace(" ", "_")
    if not ID_PREFIX.match(reference):
        raise InvalidRequestError(
            f"'{shown}' is not a {noun} id: give its first 8 characters, as lists show them, "
            "or the whole id",
            code=f"invalid_{code}_id",
        )
    text = sqlalchemy.cast(id_column, sqlalchemy.String)
    matches = session.exec(select(id_column).where(text.like(f"{reference.lower()}%")).limit(2))
    found = list(matches.all())
    if len(found) > 1:
        raise ConflictError(
            f"'{shown}' is the start of several {noun} ids; give more of it",
            code=f"ambiguous_{code}",
        )
    if not found:
        raise NotFoundError(f"no {noun} id starts with '{shown}'", code=f"{code}_not_found")
    return uuid.UUID(str(found[0]))
