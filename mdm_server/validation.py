"""Field constraints shared by API schemas, so each name is validated one way everywhere."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

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
