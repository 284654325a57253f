"""IT's enrolment tokens (with the QR code on screen, and a card to print), policies
(versions, a diff between two, an editor that validates as you paste, and assignment) and
provisioning runs with each device's result."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import segno
import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.diffs import Row, counts, line_diff, marked_lines
from mdm_server.console.forms import build
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.enrolment import qr
from mdm_server.enrolment import routes as tokens_api
from mdm_server.enrolment.schemas import EnrolmentTokenCreate
from mdm_server.errors import InvalidRequestError, UnprocessableError
from mdm_server.policies import routes as policies_api
from mdm_server.policies import source
from mdm_server.policies.schemas import AssignmentRequest, PolicySubmission
from mdm_server.provisioning import routes as provisioning_api

router = APIRouter(prefix="/console", include_in_schema=False)
TokenAdmin = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(tokens_api.create_enrolment_token))
]
PolicyReader = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(policies_api.list_policies))]
WRITING_POLICY = ConsoleAccess.like(policies_api.store_policy)
PolicyWriter = Annotated[ConsolePrincipal, Depends(WRITING_POLICY)]
PolicyChecker = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(policies_api.validate_policy))
]
ProvisioningReader = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(provisioning_api.list_provisioning_runs))
]
Short = Annotated[str, Form(max_length=200)]
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # policy and group names, as the API's paths


def _check_name(name: str, what: str = "policy") -> None:
    if not NAME.fullmatch(name):
        raise InvalidRequestError(
            f"a {what} name is lower-case letters, digits, '-' and '_' (at most 64)"
        )


@router.get("/tokens")
def token_list(
    request: Request, principal: TokenAdmin, context: ContextDep, all: bool = False
) -> HTMLResponse:
    """Enrolment tokens, and the form to make one."""
    tokens = tokens_api.list_enrolment_tokens(principal, context, include_inactive=all)
    return render(request, "tokens.html", principal=principal, tokens=tokens.items, all=all)


@router.post("/tokens")
def create_token(
    request: Request,
    principal: TokenAdmin,
    context: ContextDep,
    group: Short,
    officer: Short = "",
    uses: Annotated[str, Form(max_length=8)] = "1",
    hours: Annotated[str, Form(max_length=8)] = "24",
    label: Short = "",
) -> HTMLResponse:
    """Make a token; its secret and QR code are shown on this page only, once."""
    try:
        expires_in_s = round(float(hours) * 3600)
    except ValueError:
        raise UnprocessableError([{"field": "hours", "problem": "a number of hours"}]) from None
    body = build(
        EnrolmentTokenCreate,
        group=group.strip(),
        officer=officer.strip() or None,
        uses=uses.strip() or "1",
        expires_in_s=expires_in_s,
        label=label.strip(),
    )
    created = tokens_api.create_enrolment_token(body, principal, context)
    code = segno.make_qr(qr.payload_text(created.payload), error="m")
    return render(
        request,
        "token_created.html",
        principal=principal,
        token=created,
        qr_svg=code.svg_data_uri(scale=6, border=4),
        payload=qr.payload_text(created.payload),
        payload_file=f"tabard-enrolment-{created.group}.json",
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: uuid.UUID, principal: TokenAdmin, context: ContextDep) -> Response:
    """Revoke a token: no further device enrols with it."""
    tokens_api.revoke_enrolment_token(token_id, principal, context)
    return RedirectResponse("/console/tokens?all=true", status_code=303)


@router.get("/policies")
def policy_list(request: Request, principal: PolicyReader, context: ContextDep) -> HTMLResponse:
    """Policies, their assignments, and the editor for a new one."""
    return render(
        request,
        "policies.html",
        principal=principal,
        policies=policies_api.list_policies(principal, context),
        assignments=policies_api.list_assignments(principal, context),
        can_write=principal.role in WRITING_POLICY.roles,
    )


def _text(version: Any) -> str:
    return str(version.source or yaml.safe_dump(version.document, sort_keys=False))


@router.get("/policies/{name}")
def policy_page(
    name: str,
    request: Request,
    principal: PolicyReader,
    context: ContextDep,
    version: int | None = None,
    base: int | None = None,
) -> HTMLResponse:
    """A policy's versions, one version's text, and its diff from another."""
    _check_name(name)
    versions = policies_api.list_policy_versions(name, principal, context)
    shown = policies_api.get_policy_version(
        name, version or versions[0].version, principal, context
    )
    older, diff = None, list[Row]()
    if base is not None:
        older = policies_api.get_policy_version(name, base, principal, context)
        diff = line_diff(_text(older), _text(shown))
    return render(
        request,
        "policy.html",
        principal=principal,
        name=name,
        versions=versions,
        shown=shown,
        text=_text(shown),
        base=base,
        older=older,
        diff=diff,
        changed=counts(diff),
        can_write=principal.role in WRITING_POLICY.roles,
    )


def _check(principal: ConsolePrincipal, text: str) -> tuple[Any, list[dict[str, Any]]]:
    """The parsed document and its problems, each with its line where it can be placed."""
    try:
        document = source.load(text)
    except source.PolicySourceError as exc:
        return None, [{"line": exc.line, "where": "", "problem": exc.problem}]
    report = policies_api.validate_policy(principal, document)
    located = [error.partition(": ")[::2] for error in report.errors]
    lines = source.lines_of(text, [where for where, _ in located])
    problems = [
        {"line": line, "where": where, "problem": problem}
        for (where, problem), line in zip(located, lines, strict=True)
    ]
    return (document if report.valid else None), problems


@router.post("/policies/validate")
def validate_text(
    request: Request,
    principal: PolicyChecker,
    text: Annotated[str, Form(max_length=source.MAX_POLICY_BYTES)] = "",
) -> HTMLResponse:
    """Check the editor's text as it is pasted or typed (htmx); nothing is stored."""
    document, problems = _check(principal, text)
    return render(
        request,
        "policy_check.html",
        principal=principal,
        checked=bool(text.strip()),
        problems=problems,
        lines=marked_lines(text, [(p["line"], p) for p in problems]),
        name=document.get("name") if isinstance(document, dict) else None,
    )


@router.post("/policies")
def save_policy(
    request: Request,
    principal: PolicyWriter,
    context: ContextDep,
    text: Annotated[str, Form(max_length=source.MAX_POLICY_BYTES)] = "",
    comment: Short = "",
) -> Response:
    """Store the editor's text as the named policy's next version; a text with problems is
    shown again as typed, each problem on its line, and nothing is stored."""
    document, problems = _check(principal, text)
    if document is None or not isinstance(document, dict):
        if not problems:
            problems = [{"line": None, "where": "", "problem": "paste a policy document"}]
        return render(
            request,
            "policies.html",
            principal=principal,
            status_code=422,
            policies=policies_api.list_policies(principal, context),
            assignments=policies_api.list_assignments(principal, context),
            can_write=True,
            text=text,
            comment=comment,
            checked=True,
            problems=problems,
            lines=marked_lines(text, [(p["line"], p) for p in problems]),
            name=None,
        )
    name = str(document.get("name", ""))
    body = build(PolicySubmission, document=document, source=text, comment=comment)
    policies_api.store_policy(name, body, Response(), principal, context)
    return RedirectResponse(f"/console/policies/{name}", status_code=303)


@router.post("/policies/{name}/assign")
def assign_policy(
    name: str,
    principal: PolicyWriter,
    context: ContextDep,
    scope: Annotated[str, Form(max_length=8)],
    target: Short = "",
) -> Response:
    """Apply a policy to the fleet, a group or one device."""
    body = build(AssignmentRequest, policy=name)
    if scope == "group":
        _check_name(target.strip(), "group")
    if scope == "fleet":
        policies_api.assign_fleet(body, principal, context)
    elif scope == "group" and target.strip():
        policies_api.assign_group(target.strip(), body, principal, context)
    elif scope == "device" and target.strip():
        policies_api.assign_device(target.strip(), body, principal, context)
    else:
        raise InvalidRequestError("choose the fleet, or a group or device and name it")
    return RedirectResponse("/console/policies", status_code=303)


@router.get("/provisioning")
def provisioning_runs(
    request: Request, principal: ProvisioningReader, context: ContextDep
) -> HTMLResponse:
    """`tabard provision` runs, newest first, with their devices counted by outcome."""
    runs = provisioning_api.list_provisioning_runs(principal, context, limit=50)
    return render(request, "provisioning.html", principal=principal, runs=runs)


@router.get("/provisioning/{run_id}")
def provisioning_run(
    run_id: uuid.UUID, request: Request, principal: ProvisioningReader, context: ContextDep
) -> HTMLResponse:
    """One run: each device's result, mode and steps."""
    run = provisioning_api.get_provisioning_run(run_id, principal, context)
    return render(request, "provisioning_run.html", principal=principal, run=run)
