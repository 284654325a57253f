"""Reports worked end to end over real sockets, through the agent's CLI on a virtual J5: an
incident report filed then updated, a witness statement signed with a finger's strokes, an edit
of it refused, a note kept beside it, and both read back, the statement's digest checked on the
device."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard
from tests.e2e.test_secure_side import COLLAR, PASSWORD, POLICY, enrol_assigned_j5
from tests.factories.reports import signature

pytestmark = pytest.mark.e2e
REPORTS_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {
        **POLICY["appropriate_use"],
        "justification_sample_rate": 0.0,
        "transaction_types": {
            "incident_report": {"purposes": ["INVESTIGATION"]},
            "incident_report_update": {"purposes": ["INVESTIGATION"]},
            "witness_statement": {"purposes": ["INVESTIGATION"]},
            "witness_statement_annotation": {"purposes": ["INVESTIGATION"]},
            "report_lookup": {"purposes": ["INVESTIGATION"]},
        },
    },
}
STATEMENT = "I saw a man in a grey hoodie climb the fence at about half past eleven."


class TestReports:
    def test_file_update_sign_annotate_and_refuse_an_edit(self, tabard: Tabard) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard, REPORTS_POLICY)
            agent = ["agent", "--state", str(state)]
            why = ["--purpose", "INVESTIGATION"]
            pad = tabard.root / "signature.json"
            drawn = signature(points=40)
            del drawn["signed_at"]
            pad.write_text(json.dumps(drawn))
            with agent_running(tabard, state):
                tabard.run(
                    *agent,
                    "secure",
                    "enter",
                    "--officer",
                    COLLAR,
                    "--pin-stdin",
                    "--acknowledge",
                    "2026.2",
                    stdin="402917\n583062\n",
                )
                incident = json.loads(
                    tabard.run(
                        *agent,
                        "report",
                        "incident",
                        "--summary",
                        "Shed broken into; bicycle taken",
                        "--location",
                        "Sample Road, Testbury",
                        "--occurred-at",
                        "2026-11-21T02:10Z",
                        "--category",
                        "crime",
                        *why,
                        "--json",
                    ).stdout
                )["result"]["reference"]
                updated = tabard.run(
                    *agent,
                    "report",
                    "update",
                    incident,
                    "--location",
                    "Rear of 12 Sample Road, Testbury",
                    "--reason",
                    "The victim showed where the shed stands",
                    *why,
                )
                incident_shown = tabard.run(*agent, "report", "show", incident, *why)
                signed = json.loads(
                    tabard.run(
                        *agent,
                        "report",
                        "witness",
                        "--surname",
                        "Doe",
                        "--forename",
                        "Jo",
                        "--statement",
                        STATEMENT,
                        "--signature",
                        str(pad),
                        *why,
                        "--json",
                    ).stdout
                )["result"]
                statement = signed["reference"]
                edit = tabard.run(
                    *agent,
                    "report",
                    "update",
                    statement,
                    "--summary",
                    "A different account",
                    "--reason",
                    "The witness changed their mind",
                    *why,
                    check=False,
                )
                noted = tabard.run(
                    *agent,
                    "report",
                    "annotate",
                    statement,
                    "--note",
                    "Witness phoned: the time was nearer midnight.",
                    *why,
                )
                read_back = json.loads(
                    tabard.run(*agent, "report", "show", statement, *why, "--json").stdout
                )["result"]["report"]
                statement_shown = tabard.run(*agent, "report", "show", statement, *why)
                unsigned = tabard.run(
                    *agent,
                    "report",
                    "witness",
                    "--surname",
                    "Doe",
                    "--forename",
                    "Jo",
                    "--statement",
                    STATEMENT,
                    "--signature",
                    str(tabard.root / "no-such-file.json"),
                    *why,
                    check=False,
                )
                tabard.run(*agent, "secure", "leave")
            trail = audit_trail(tabard)

        assert incident.startswith("INC-DEMO-")
        assert f"Incident report {incident} is now version 2 (changed: location)." in (
            updated.stdout
        )
        assert "Rear of 12 Sample Road" in incident_shown.stdout
        assert "The victim showed where the shed stands" in incident_shown.stdout
        assert len(signed["signature_digest"]) == 64
        assert edit.returncode == 1
        assert "a signed witness statement cannot be changed; add an annotation" in edit.stderr
        assert f"Note kept beside witness statement {statement} (1 note now)." in noted.stdout
        assert read_back["fields"]["statement"] == STATEMENT
        assert read_back["signature_digest"] == signed["signature_digest"]
        assert read_back["signature"]["strokes"] == drawn["strokes"]
        assert [a["note"] for a in read_back["annotations"]] == [
            "Witness phoned: the time was nearer midnight."
        ]
        assert "checks" in statement_shown.stdout and "DOES NOT" not in statement_shown.stdout
        assert unsigned.returncode != 0 and "cannot read" in unsigned.stderr

        actions = [e.action for e in trail if e.action.startswith("transaction.")]
        assert actions == [
            "transaction.incident_report",
            "transaction.incident_report_update",
            "transaction.report_lookup",
            "transaction.witness_statement",
            "transaction.incident_report_update",
            "transaction.witness_statement_annotation",
            "transaction.report_lookup",
            "transaction.report_lookup",
        ]
        refused = [e for e in trail if e.action == "transaction.incident_report_update"][1]
        assert refused.detail["outcome"] == "refused:signed_statement"
        (filed,) = [e for e in trail if e.action == "transaction.witness_statement"]
        assert filed.detail["signature_digest"] == signed["signature_digest"]
        assert filed.detail["collar_number"] == COLLAR
        assert all("strokes" not in json.dumps(e.detail) for e in trail)
