"""The console's menu for each role: only the pages that role may open."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MenuItem:
    label: str
    href: str


MENUS: dict[str, tuple[MenuItem, ...]] = {
    "it_admin": (
        MenuItem("Fleet", "/console/fleet"),
        MenuItem("Devices", "/console/devices"),
        MenuItem("Commands", "/console/commands"),
        MenuItem("Enrolment tokens", "/console/tokens"),
        MenuItem("Policies", "/console/policies"),
        MenuItem("Apps", "/console/apps"),
        MenuItem("Provisioning", "/console/provisioning"),
    ),
    "auditor": (
        MenuItem("Audit search", "/console/audit"),
        MenuItem("Flags", "/console/flags"),
        MenuItem("Evidence bundle", "/console/audit/bundle"),
        MenuItem("Checkpoints", "/console/audit/checkpoints"),
        MenuItem("Apps", "/console/apps"),
    ),
    "supervisor": (MenuItem("Demand", "/console/demand"), MenuItem("Map", "/console/map")),
    "missing_persons": (MenuItem("Missing persons", "/console/missing-persons"),),
    "mash": (MenuItem("Safeguarding queue", "/console/mash"),),
    "officer": (
        MenuItem("My device", "/console/me"),
        MenuItem("My usage", "/console/me/usage"),
    ),
}

HOME: dict[str, str] = {role: items[0].href for role, items in MENUS.items()}


def menu_for(role: str) -> tuple[MenuItem, ...]:
    return MENUS.get(role, ())
