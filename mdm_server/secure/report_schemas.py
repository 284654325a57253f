"""API shapes for working filed reports: a witness's signature, an update to an incident
report, an annotation beside a signed witness statement, and reading a report back
(docs/device-protocol.md §6.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from mdm_server.secure.schemas import ShortText, Strict, Text

IncidentCategory = Literal["crime", "anti_social_behaviour", "public_safety", "transport", "other"]
ReportReference = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9/-]{2,31}$"),
    Field(description="A filed report's reference, as the records system gave it on filing."),
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]

# A signature is a drawing, not a document: these caps keep one to a few tens of kilobytes.
MAX_SIDE = 4096
MAX_STROKES = 100
MAX_POINTS = 5000
Coordinate = Annotated[int, Field(ge=0, le=MAX_SIDE)]
Point = tuple[Coordinate, Coordinate]


class WitnessSignature(Strict):
    """The witness's signature as drawn with a finger: each stroke the points the finger passed
    through, in the pad's own pixels (origin top left), and when the witness signed."""

    width: Annotated[int, Field(ge=1, le=MAX_SIDE, description="The signing pad's width.")]
    height: Annotated[int, Field(ge=1, le=MAX_SIDE, description="The signing pad's height.")]
    strokes: list[list[Point]] = Field(
        description=f"Up to {MAX_STROKES} strokes and {MAX_POINTS} points in all, each point "
        "[x, y] inside the pad."
    )
    signed_at: AwareDatetime = Field(
        description="When the witness signed; kept to the second. Not in the future."
    )

    @model_validator(mode="after")
    def _within_caps(self) -> WitnessSignature:
        points = sum(len(stroke) for stroke in self.strokes)
        if not self.strokes or points == 0:
            raise ValueError("the signature is empty: the witness signs on the screen first")
        if len(self.strokes) > MAX_STROKES:
            raise ValueError(
                f"a signature may have at most {MAX_STROKES} strokes; this one has "
                f"{len(self.strokes)}"
            )
        if points > MAX_POINTS:
            raise ValueError(
                f"a signature may have at most {MAX_POINTS} points; this one has {points}"
            )
        if any(x > self.width or y > self.height for stroke in self.strokes for x, y in stroke):
            raise ValueError(
                f"every point must lie inside the {self.width} x {self.height} signing pad"
            )
        return self


class IncidentReportChanges(Strict):
    """The fields of an incident report to change; those left out stay as they are."""

    summary: Text | None = None
    location: ShortText | None = None
    occurred_at: AwareDatetime | None = None
    category: IncidentCategory | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(str(key) for key in value if key not in cls.model_fields)
            if unknown:
                raise ValueError(
                    f"an incident report has no {' or '.join(unknown)}: change its "
                    f"{_in_words(list(cls.model_fields))}"
                )
        return value

    @model_validator(mode="after")
    def _something(self) -> IncidentReportChanges:
        if not self.model_fields_set or all(
            getattr(self, name) is None for name in self.model_fields_set
        ):
            raise ValueError(
                f"say what changes: one or more of {_in_words(list(type(self).model_fields))}"
            )
        return self


def _in_words(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]


class IncidentReportUpdateBody(Strict):
    reference: ReportReference
    changes: IncidentReportChanges
    reason: Reason = Field(description="Why the report changes, kept with its history.")


class WitnessStatementAnnotationBody(Strict):
    reference: ReportReference
    note: Text = Field(description="The note to keep beside the signed statement.")


class ReportQuery(Strict):
    reference: ReportReference
