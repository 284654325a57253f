"""OPTIK's apps as plain data: each app's transaction type, its fields, and how a filled-in
form becomes the transaction the agent sends (purpose, incident reference, query or report).
Purposes come from the policy the agent applied, so the screen offers only what the server
will accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class FormError(ValueError):
    """A field the officer must fix; the message says how."""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, date, datetime, select
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    autocomplete: str = "off"


@dataclass(frozen=True)
class App:
    slug: str
    title: str
    type: str
    action: str  # the button's words
    part: str  # "query", "report", "update" or "annotation"
    fields: tuple[Field, ...] = field(default_factory=tuple)


def _choices(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, name.replace("_", " ").capitalize()) for name in names)


CATEGORIES = _choices("crime", "anti_social_behaviour", "public_safety", "transport", "other")
APPS: tuple[App, ...] = (
    App(
        "person",
        "Person search",
        "person_search",
        "Search",
        "query",
        (
            Field("surname", "Surname"),
            Field("forename", "Forename", required=False),
            Field("date_of_birth", "Date of birth", kind="date", required=False),
        ),
    ),
    App(
        "vehicle",
        "Vehicle search",
        "vehicle_search",
        "Search",
        "query",
        (Field("registration", "Registration mark", hint="For example AB12 CDE"),),
    ),
    App(
        "incident",
        "Incident lookup",
        "incident_lookup",
        "Look up",
        "query",
        (Field("reference", "Incident reference", hint="For example INC-20261121-0042"),),
    ),
    App(
        "report",
        "Incident report",
        "incident_report",
        "File report",
        "report",
        (
            Field("summary", "What happened", kind="textarea"),
            Field("location", "Where"),
            Field("occurred_at", "When", kind="datetime"),
            Field(
                "category",
                "Category",
                kind="select",
                choices=CATEGORIES,
            ),
        ),
    ),
    App(
        "missing",
        "Missing person",
        "missing_person_report",
        "Register",
        "report",
        (
            Field("surname", "Surname"),
            Field("forename", "Forename"),
            Field("date_of_birth", "Date of birth", kind="date", required=False),
            Field("last_seen_at", "Last seen at (time)", kind="datetime"),
            Field("last_seen_location", "Last seen at (place)"),
            Field("description", "Description", kind="textarea"),
            Field(
                "risk",
                "Risk",
                kind="select",
                choices=_choices("high", "medium", "low", "no_apparent_risk"),
            ),
        ),
    ),
    App(
        "stop",
        "Stop and search",
        "stop_and_search",
        "Record",
        "report",
        (
            Field("grounds", "Grounds", kind="textarea"),
            Field(
                "object_of_search",
                "Object of search",
                kind="select",
                choices=_choices(
                    "drugs",
                    "offensive_weapon",
                    "stolen_property",
                    "going_equipped",
                    "firearm",
                    "other",
                ),
            ),
            Field("location", "Where"),
            Field(
                "outcome",
                "Outcome",
                kind="select",
                choices=_choices(
                    "no_further_action", "arrest", "community_resolution", "penalty", "other"
                ),
            ),
            Field("subject_surname", "Subject's surname", required=False),
            Field("subject_forename", "Subject's forename", required=False),
        ),
    ),
)
WITNESS = App(
    "witness",
    "Witness statement",
    "witness_statement",
    "Read and sign",
    "report",
    (
        Field("witness_surname", "Witness's surname"),
        Field("witness_forename", "Witness's forename"),
        Field("statement", "Statement", kind="textarea", hint="In the witness's own words."),
    ),
)
LOOKUP = App(
    "lookup",
    "Read a report",
    "report_lookup",
    "Read it",
    "query",
    (Field("reference", "Report reference", hint="As given when it was filed"),),
)
UPDATE = App(
    "update",
    "Update a report",
    "incident_report_update",
    "Update report",
    "update",
    (
        Field("reference", "Report reference", hint="As given when it was filed"),
        Field("summary", "What happened", kind="textarea", required=False),
        Field("location", "Where", required=False),
        Field("occurred_at", "When", kind="datetime", required=False),
        Field(
            "category",
            "Category",
            kind="select",
            required=False,
            choices=CATEGORIES,
        ),
        Field("reason", "Why it changes", kind="textarea", hint="Kept with the report's history."),
    ),
)
# Reached from a witness statement read back, not from a tile.
ANNOTATE = App(
    "annotate",
    "Add an annotation",
    "witness_statement_annotation",
    "Keep the note",
    "annotation",
    (
        Field("reference", "Statement reference"),
        Field(
            "note",
            "Note",
            kind="textarea",
            hint="Kept beside the statement, which itself never changes.",
        ),
    ),
)
APPS = (*APPS, WITNESS, LOOKUP, UPDATE)
# A child or an adult at risk, to the MASH queue; only its officer reads it back.
SAFEGUARDING = App(
    "safeguarding",
    "Safeguarding referral",
    "safeguarding_referral",
    "Refer to MASH",
    "report",
    (
        Field(
            "at_risk",
            "Who is at risk",
            kind="select",
            choices=(("child", "A child (under 18)"), ("adult", "An adult at risk")),
        ),
        Field("surname", "Surname"),
        Field("forename", "Forename"),
        Field("date_of_birth", "Date of birth", kind="date", required=False),
        Field("concerns", "Concerns", kind="textarea", hint="What you saw or were told."),
        Field(
            "people_involved",
            "People involved",
            kind="textarea",
            required=False,
            hint="Family, carers, anyone suspected.",
        ),
        Field(
            "immediate_actions",
            "What you did at once",
            kind="textarea",
            hint="To keep them safe.",
        ),
        Field("location", "Where"),
    ),
)
APPS = (*APPS, SAFEGUARDING)
BY_SLUG = {app.slug: app for app in (*APPS, ANNOTATE)}


@dataclass(frozen=True)
class Rule:
    """What the policy allows for one transaction type."""

    purposes: tuple[str, ...]
    incident_reference_required: bool


def rule_for(policy: dict[str, Any], kind: str) -> Rule | None:
    """The applied policy's rule for `kind`, or None if it allows none."""
    types = (policy.get("appropriate_use") or {}).get("transaction_types") or {}
    rule = types.get(kind)
    if not isinstance(rule, dict):
        return None
    return Rule(
        tuple(str(p) for p in rule.get("purposes", [])),
        bool(rule.get("incident_reference_required")),
    )


def _value(spec: Field, raw: str) -> str | None:
    text = raw.strip()
    if not text:
        if spec.required:
            raise FormError(f"Enter the {spec.label.lower()}.")
        return None
    if spec.kind == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise FormError(f"{spec.label} must be a date.") from None
    if spec.kind == "datetime":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise FormError(f"{spec.label} must be a date and time.") from None
        # A datetime-local field is the device's own local time.
        return (moment if moment.tzinfo else moment.astimezone()).isoformat()
    if spec.kind == "select" and text not in {name for name, _ in spec.choices}:
        raise FormError(f"Choose the {spec.label.lower()} from the list.")
    return text


def transaction(app: App, rule: Rule, form: dict[str, str]) -> dict[str, Any]:
    """The transaction for a filled-in form, or FormError saying what to fix."""
    purpose = form.get("purpose", "")
    if purpose not in rule.purposes:
        raise FormError("Choose the purpose of this search from the list.")
    body: dict[str, Any] = {"type": app.type, "purpose": purpose}
    reference = form.get("incident_reference", "").strip()
    if reference:
        body["incident_reference"] = reference
    elif rule.incident_reference_required:
        raise FormError("Enter the incident reference: policy requires one.")
    content = {spec.name: _value(spec, form.get(spec.name, "")) for spec in app.fields}
    body[app.part] = {name: value for name, value in content.items() if value is not None}
    if app.type == "incident_lookup" and "incident_reference" not in body:
        body["incident_reference"] = body["query"]["reference"]
    return body
