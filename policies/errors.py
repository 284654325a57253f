"""Reading a policy document, with errors located by dotted path and said plainly:
`secure_side.offline_grace_hours: must be at most 72`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from policies.document import PATTERN_HINTS, PolicyDocument


class PolicyError(ValueError):
    """A policy document that does not validate: `problems` are (location, message) pairs,
    `errors` the same as `location: message` lines."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.errors = [f"{where}: {what}" for where, what in problems]
        super().__init__("; ".join(self.errors))


def location(loc: tuple[int | str, ...]) -> str:
    """`("secure_side", "allowed_apps", 2, "package")` -> `secure_side.allowed_apps[2].package`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _message(error: ErrorDetails) -> str:
    context = error.get("ctx") or {}
    kind = error["type"]
    messages: dict[str, Callable[[], str]] = {
        "less_than_equal": lambda: f"must be at most {context.get('le')}",
        "less_than": lambda: f"must be less than {context.get('lt')}",
        "greater_than_equal": lambda: f"must be at least {context.get('ge')}",
        "greater_than": lambda: f"must be more than {context.get('gt')}",
        "extra_forbidden": lambda: "is not a setting Tabard knows; check the spelling",
        "missing": lambda: "is required",
        "bool_type": lambda: "must be true or false",
        "bool_parsing": lambda: "must be true or false",
        "int_type": lambda: "must be a whole number",
        "int_parsing": lambda: "must be a whole number",
        "int_from_float": lambda: "must be a whole number",
        "float_type": lambda: "must be a number",
        "float_parsing": lambda: "must be a number",
        "string_type": lambda: "must be text",
        "list_type": lambda: "must be a list",
        "dict_type": lambda: "must be a mapping of names to values",
        "model_type": lambda: "must be a mapping of settings",
        "model_attributes_type": lambda: "must be a mapping of settings",
        "too_short": lambda: f"must list at least {context.get('min_length')}",
        "too_long": lambda: f"must list at most {context.get('max_length')}",
        "string_too_long": lambda: f"must be at most {context.get('max_length')} characters",
        "string_too_short": lambda: f"must be at least {context.get('min_length')} characters",
        "string_pattern_mismatch": lambda: (
            "must be "
            + PATTERN_HINTS.get(str(context.get("pattern")), "in the expected form")
            + f", not {_shown(error)}"
        ),
        "literal_error": lambda: f"must be one of {context.get('expected')}",
        "enum": lambda: f"must be one of {context.get('expected')}",
    }
    plain = messages.get(kind)
    if plain is not None:
        return plain()
    if kind in ("value_error", "assertion_error"):
        return str(context.get("error", error["msg"]))
    return str(error["msg"]).lower()


def _shown(error: ErrorDetails) -> str:
    value = error.get("input")
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."


def located_errors(error: ValidationError) -> list[tuple[str, str]]:
    """(path, what to fix) per problem, in document order and without repeats."""
    problems: list[tuple[str, str]] = []
    for detail in error.errors(include_url=False):
        loc = tuple(part for part in detail["loc"] if not _union_branch(part))
        problem = (location(loc), _message(detail))
        if problem not in problems:
            problems.append(problem)
    return problems


def _union_branch(part: int | str) -> bool:
    """Pydantic names the branch of a union it tried (`bool`, `list[str]`); not a location."""
    return isinstance(part, str) and (part in ("bool", "int", "str", "float") or "[" in part)


def parse_policy(data: Any) -> PolicyDocument:
    """A policy document from parsed JSON or YAML; PolicyError with located errors if not."""
    if not isinstance(data, Mapping):
        raise PolicyError([("(document)", "must be a mapping of settings, not a list or a value")])
    try:
        return PolicyDocument.model_validate(dict(data))
    except ValidationError as error:
        raise PolicyError(located_errors(error)) from None
