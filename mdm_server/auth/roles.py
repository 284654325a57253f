"""Roles, and the words people use for them: what the command line, the pages and the API
all name, kept apart from the tables so that a client imports no database code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The principals of DESIGN.md's separation of duties."""

    it_admin = "it_admin"
    auditor = "auditor"
    supervisor = "supervisor"
    officer = "officer"
    missing_persons = "missing_persons"
    mash = "mash"
    device = "device"


STAFF_ROLES: tuple[Role, ...] = (
    Role.it_admin,
    Role.auditor,
    Role.supervisor,
    Role.officer,
    Role.missing_persons,
    Role.mash,
)


@dataclass(frozen=True)
class RoleName:
    """A role as people say it: `one` in a sentence ("a second IT administrator"), `many`
    for several, `a` with its article. The codes (`it_admin`) are for typing and for the API;
    every page, message and CLI sentence that names a role takes its words from here."""

    one: str
    many: str
    a: str

    @property
    def title(self) -> str:
        """As a label on its own: `IT administrator`, `Auditor`."""
        return self.one[:1].upper() + self.one[1:]


ROLE_NAMES: dict[str, RoleName] = {
    Role.it_admin: RoleName("IT administrator", "IT administrators", "an IT administrator"),
    Role.auditor: RoleName("auditor", "auditors", "an auditor"),
    Role.supervisor: RoleName("supervisor", "supervisors", "a supervisor"),
    Role.officer: RoleName("officer", "officers", "an officer"),
    Role.missing_persons: RoleName(
        "missing-persons unit member",
        "the missing-persons unit",
        "a missing-persons unit member",
    ),
    Role.mash: RoleName("MASH team member", "MASH team members", "a MASH team member"),
    Role.device: RoleName("device", "devices", "a device"),
}


def role_name(role: str) -> RoleName:
    """The words for `role`; a code Tabard does not know is shown as written, in words."""
    known = ROLE_NAMES.get(role)
    if known is not None:
        return known
    words = role.replace("_", " ")
    return RoleName(words, f"{words}s", f"a {words}")


def roles_in_words(roles: Iterable[str]) -> str:
    """Several roles as one phrase, in the order Tabard lists them: `IT administrators and
    auditors`."""
    order: dict[str, int] = {role: place for place, role in enumerate(Role)}
    names = [role_name(role).many for role in sorted(set(roles), key=lambda r: order.get(r, 99))]
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
