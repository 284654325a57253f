"""Field constraints shared by API schemas, so each name is validated one way everywhere."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _not_a_number(value: object) -> object:
    """Pydantic reads a number as seconds since 1970; the schema, and people, mean a date."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("must be a date and time such as 2026-11-21T09:30:00Z")
    return value


Username = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$"),
    Field(description="3 to 64 characters: lowercase letters, digits, '.', '_' or '-'."),
]
CollarNumber = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$"),
    Field(description="An officer's collar (warrant) number: up to 16 letters and digits."),
]
Division = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$"),
    Field(description="A division or command unit, up to 64 characters."),
]
GroupName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
    Field(description="A device group: lowercase letters, digits, '_' or '-', up to 64."),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]

DisplayName = Annotated[str, StringConstraints(max_length=128)]
Moment = Annotated[
    datetime,
    BeforeValidator(_not_a_number),
    Field(description="A date and time in ISO 8601, with its zone: 2026-11-21T09:30:00Z."),
]
