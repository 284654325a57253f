"""The secure side end to end over real sockets: IT sets up an officer and a policy, a virtual
J5 enrols, its agent runs, the officer enters with their PIN, searches a person with a purpose
code, files an incident report and leaves; the audit log holds all of it, in order."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard
from tests.support import wait_for

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
COLLAR = "4021"
POLICY = {
    "schema_version": 1,
    "name": "response",
    "secure_side": {"inactivity_lock_minutes": 15, "offline_grace_hours": 8},
    "appropriate_use": {
        "justification_sample_rate": 1.0,  # every transaction asked, so the test sees one
        "policy_text_version": "2026.2",
        "policy_text": "Policing purposes only. Every search is logged and audited.",
        "transaction_types": {
            "person_search": {"purposes": ["INVESTIGATION"], "incident_reference_required": True},
            "incident_report": {"purposes": ["INVESTIGATION"]},
        },
    },
}


def enrol_assigned_j5(tabard: Tabard, policy_document: dict[str, Any] = POLICY) -> Path:
    """IT's part: an officer with a PIN, the policy, a token for the officer; the agent enrols."""
    tabard.run(
        "users",
        "create",
        "--username",
        "pc-4021",
        "--role",
        "officer",
        "--collar",
        COLLAR,
        "--division",
        "north",
        "--display-name",
        "PC Example",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    tabard.run("users", "set-pin", COLLAR, "--pin-stdin", stdin="402917\n")
    policy = tabard.root / "response.yaml"
    policy.write_text(yaml.safe_dump(policy_document))
    tabard.run("policy", "apply", str(policy), "--to", "fleet")
    token = json.loads(
        tabard.run("tokens", "create", "--group", "response", "--officer", COLLAR, "--json").stdout
    )
    payload = tabard.root / "payload.json"
    payload.write_text(json.dumps(token["payload"]))
    state = tabard.root / "agent"
    tabard.run(
        "agent",
        "--state",
        str(state),
        "enrol",
        "--payload",
        str(payload),
        "--platform",
        "virtual:SM-J510FN",
    )
    return state


def professional_standards_search(tabard: Tabard) -> tuple[dict[str, Any], str]:
    """An auditor finds the officer's search for Sam Example, on screen and as CSV."""
    tabard.run(
        "users",
        "create",
        "--username",
        "ps-auditor",
        "--role",
        "auditor",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    tabard.login("ps-auditor", PASSWORD + "\nan even longer passphrase")
    who = ["--surname", "example", "--forename", "SAM", "--officer", COLLAR]
    searched = json.loads(tabard.run("audit", "search", *who, "--json").stdout)
    out = tabard.root / "searches.csv"
    tabard.run("audit", "search", *who, "--csv", str(out))
    assert os.stat(out).st_mode & 0o777 == 0o600
    return searched, out.read_text()


class TestSecureSide:
    def test_enter_search_report_leave_is_audited_in_order(self, tabard: Tabard) -> None:
        tabard.extra_env["TABARD_LOG_FORMAT"] = "json"  # what a log shipper reads; see the end
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving() as server_log:
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            agent = ["agent", "--state", str(state)]
            with agent_running(tabard, state):
                socket_mode = os.stat(state / "agent.sock").st_mode & 0o777
                refused = tabard.run(
                    *agent,
                    "secure",
                    "enter",
                    "--officer",
                    COLLAR,
                    "--pin-stdin",
                    stdin="402917\n",
                    check=False,
                )
                opened = json.loads(
                    tabard.run(
                        *agent,
                        "secure",
                        "enter",
                        "--officer",
                        COLLAR,
                        "--pin-stdin",
                        "--acknowledge",
                        "2026.2",
                        "--json",
                        stdin="402917\n583062\n",
                    ).stdout
                )
                found = json.loads(
                    tabard.run(
                        *agent,
                        "search",
                        "person",
                        "--surname",
                        "Example",
                        "--forename",
                        "Sam",
                        "--purpose",
                        "INVESTIGATION",
                        "--incident",
                        "INC-20261121-0042",
                        "--json",
                    ).stdout
                )
                (waiting,) = json.loads(tabard.run(*agent, "justify", "--json").stdout)
                why = "Suspect named by the victim of INC-20261121-0042."
                justified = tabard.run(*agent, "justify", waiting["id"], "--answer", why)
                filed = tabard.run(
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
                    "--purpose",
                    "INVESTIGATION",
                )
                tabard.run(*agent, "secure", "leave")
                status = json.loads(tabard.run(*agent, "status", "--json").stdout)
                after_leave = tabard.run(
                    *agent,
                    "search",
                    "person",
                    "--surname",
                    "Example",
                    "--purpose",
                    "INVESTIGATION",
                    "--incident",
                    "INC-1",
                    check=False,
                )
                wait_for(
                    lambda: (
                        json.loads(tabard.run(*agent, "status", "--json").stdout)["outbox_pending"]
                        == 0
                    ),
                    "the outbox to drain",
                )
            searched, exported = professional_standards_search(tabard)
        assert refused.returncode == 1
        assert "pin_change_required" in refused.stderr or "acknowledge" in refused.stderr
        assert opened["secure_side"] == "open" and opened["online"] is True
        assert opened["officer"] == COLLAR
        assert found["result"]["people"]
        assert all(person["synthetic"] for person in found["result"]["people"])
        assert "Incident report filed as INC-DEMO-" in filed.stdout
        assert waiting["transaction_id"] == found["transaction_id"]
        assert "Further justification requested" in filed.stdout
        assert "Justification recorded" in justified.stdout
        assert status["secure_side"] == "locked" and status["state"] == "active"
        assert after_leave.returncode == 1 and "locked" in after_leave.stderr

        trail = audit_trail(tabard)
        secure = [
            e
            for e in trail
            if e.action
            in (
                "secure.session_opened",
                "transaction.person_search",
                "transaction.incident_report",
                "secure.session_ended",
            )
        ]
        assert [e.action for e in secure] == [
            "secure.session_opened",
            "transaction.person_search",
            "transaction.incident_report",
            "secure.session_ended",
        ]
        device_id = json.loads((state / "enrolment.json").read_text())["device_id"]
        search, report = secure[1], secure[2]
        for event in (search, report):
            assert event.actor_name == "pc-4021"
            assert event.detail["collar_number"] == COLLAR
            assert event.detail["device_id"] == device_id
            assert event.detail["purpose"] == "INVESTIGATION"
        assert search.detail["incident_reference"] == "INC-20261121-0042"
        assert search.detail["subject"] == {"surname": "Example", "forename": "Sam"}
        assert [e.seq for e in secure] == sorted(e.seq for e in secure)
        assert [e["detail"]["transaction_id"] for e in searched["events"]] == [
            found["transaction_id"]
        ]
        assert exported.count("transaction.person_search") == 1
        assert exported.splitlines()[0].startswith("seq,time,action,")
        (given,) = [e for e in trail if e.action == "appropriate_use.justification_given"]
        assert (given.detail["answer"], given.detail["collar_number"]) == (why, COLLAR)
        (audited,) = [e for e in trail if e.action == "audit.searched"]
        assert audited.actor_name == "ps-auditor"
        assert audited.detail["filters"] == {
            "subject": {"surname": "example", "forename": "SAM"},
            "officer": COLLAR,
        }
        outbox = [e.action for e in trail if e.action.startswith("device_event.")]
        assert "device_event.secure.entered" in outbox
        assert "device_event.transaction" in outbox
        assert "device_event.secure.left" in outbox
        assert socket_mode == 0o600

        # The server's log, as JSON lines: the search's request id ties its line to its event,
        # and nothing anyone typed or was given as a secret is in it, nor in the agent's log.
        logged = [json.loads(line) for line in server_log]
        (search_line,) = [line for line in logged if line.get("request_id") == search.request_id]
        assert search_line["logger"] == "tabard.access" and search_line["status"] == 200
        assert search_line["path"].endswith("/transactions")
        assert all(line["request_id"] for line in logged if line["logger"] == "tabard.access")
        agent_log = (state.parent / "agent.log").read_text()
        secrets = [PASSWORD, "an even longer passphrase", "402917", "583062", why]
        secrets += ["Shed broken into", "Sample Road", "INC-20261121-0042"]
        secrets += secrets_kept_in(tabard)
        for text, source in ((json.dumps(logged), "server"), (agent_log, "agent")):
            # (any(), not a list: a failure must not print the secret it found)
            assert not any(s in text for s in secrets), f"the {source} log holds a secret"
            assert not re.search(r"\b(Sam|Example)\b", text), f"the {source} log names a subject"
            assert not re.search(r"eyJ[\w-]{8,}\.", text), f"the {source} log holds a token"
            assert "PRIVATE KEY" not in text


def secrets_kept_in(tabard: Tabard) -> list[str]:
    """The enrolment token, staff session tokens, second-factor secrets and recovery codes the
    run handed out, and every device key the agent keeps."""
    kept = [json.loads((tabard.root / "payload.json").read_text())["token"]]
    for path in (tabard.root / "config").rglob("session.json"):
        kept += [json.loads(path.read_text())[key] for key in ("access_token", "refresh_token")]
    for phone in tabard.phones.values():
        kept += [phone.secret, *phone.recovery_codes]
    kept += [
        line
        for key in (tabard.root / "agent").rglob("*.key")
        for line in key.read_text().splitlines()
        if len(line) >= 40
    ]
    return [secret for secret in kept if len(secret) >= 6]
