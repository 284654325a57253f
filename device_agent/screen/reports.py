"""Reports beyond filing on the screen: a witness statement read by the witness and signed with
a finger, its digest checked on the device against the text sent; a filed report read back (a
statement with its signature, digest and annotations, never an edit); an incident report
updated with a reason; a note kept beside a signed statement. Each is one transaction through
the agent, with a purpose the policy allows for its type."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from device_agent.errors import AgentError
from device_agent.screen.app import Screen, form_of, screen_of, sentence
from device_agent.screen.forms import ANNOTATE, LOOKUP, UPDATE, WITNESS, App, FormError, transaction
from device_agent.screen.optik import Filled, app_page, closed, rule_of, status_of
from device_agent.screen.signing import NOT_SIGNED, drawing, signature
from device_agent.statements import digest_checks, grouped, statement_digest

STATEMENT_FIELDS = ("witness_surname", "witness_forename", "statement")


async def _body(screen: Screen, app: App, form: dict[str, str]) -> dict[str, Any] | Response:
    """The transaction for `app`'s form, or the form again saying what to fix."""
    rule = rule_of(screen, app)
    if rule is None:
        return app_page(screen, app, status=403, form=form)
    try:
        return transaction(app, rule, form)
    except FormError as problem:
        return app_page(screen, app, status=422, error=str(problem), form=form)


async def _send(
    screen: Screen, body: dict[str, Any], again: Any
) -> tuple[dict[str, Any] | None, Response | None]:
    """Send through the agent: (answer, None), or (None, the page saying why not)."""
    try:
        return await screen.agent.transaction(body), None
    except AgentError as exc:
        if not screen.is_open():
            return None, closed()
        return None, again(status_of(exc), sentence(exc))


def _prefilled(app: App):  # type: ignore[no-untyped-def]
    async def form(request: Request) -> Response:
        """The form, with the report's reference filled in when the link carries it."""
        screen = screen_of(request)
        if not screen.is_open():
            return closed()
        screen.touch()
        reference = request.query_params.get("reference", "")
        return app_page(screen, app, form={"reference": reference[:32]})

    return form


async def _statement_form(request: Request) -> dict[str, str]:
    """The statement's form, its line breaks as the witness reads them (a browser sends CRLF)."""
    form = Filled(await form_of(request))
    form["statement"] = form["statement"].replace("\r\n", "\n")
    return form


async def witness_read(request: Request) -> Response:
    """The statement as written, for the witness to read and sign."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    form = await _statement_form(request)
    body = await _body(screen, WITNESS, form)
    if isinstance(body, Response):
        return body
    screen.touch()
    return screen.page("sign.html", form=form, report=body["report"], error=None)


async def witness_sign(request: Request) -> Response:
    """The witness has signed: file the statement and check its digest here."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    form = await _statement_form(request)
    body = await _body(screen, WITNESS, form)
    if isinstance(body, Response):
        return body

    def again(status: int, error: str) -> Response:
        unsigned = error == NOT_SIGNED  # the pad clears this once the witness starts to sign
        return screen.page(
            "sign.html", status, form=form, report=body["report"], error=error, unsigned=unsigned
        )

    try:
        body["report"]["signature"] = signature(form.get("signature", ""), screen.agent.clock())
    except FormError as problem:
        return again(422, str(problem))
    answer, refused = await _send(screen, body, again)
    if answer is None:
        assert refused is not None
        return refused
    result = answer["result"]
    report = body["report"]
    sent = statement_digest(
        statement=report["statement"],
        witness_surname=report["witness_surname"],
        witness_forename=report["witness_forename"],
        signed_at=str(result["signed_at"]),
        collar_number=str(screen.agent.status()["officer"]),
        signature=report["signature"],
    )
    return screen.page(
        "statement_filed.html",
        answer=answer,
        result=result,
        digest=grouped(str(result["signature_digest"])),
        checks=sent == result["signature_digest"],
    )


async def lookup(request: Request) -> Response:
    """A filed report read back: its fields and history; a statement's signature, digest
    (checked here) and annotations."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    form = await form_of(request)
    body = await _body(screen, LOOKUP, form)
    if isinstance(body, Response):
        return body

    def again(status: int, error: str) -> Response:
        return app_page(screen, LOOKUP, status=status, error=error, form=form)

    answer, refused = await _send(screen, body, again)
    if answer is None:
        assert refused is not None
        return refused
    return _report_page(screen, answer, answer["result"].get("report"), body["query"]["reference"])


def _report_page(
    screen: Screen, answer: dict[str, Any], report: dict[str, Any] | None, reference: str
) -> Response:
    if report is None:
        return screen.page("report.html", answer=answer, report=None, reference=reference)
    return screen.page(
        "report.html",
        answer=answer,
        report=report,
        reference=reference,
        drawing=drawing(report.get("signature")),
        checks=digest_checks(report),
        digest=grouped(str(report.get("signature_digest") or "")),
    )


async def update(request: Request) -> Response:
    """An incident report updated with a reason; its new version, and its history when the
    policy lets the same purpose read it back."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    form = await form_of(request)
    body = await _body(screen, UPDATE, form)
    if isinstance(body, Response):
        return body
    given = body.pop("update")
    reference, reason = given.pop("reference"), given.pop("reason")
    body["update"] = {"reference": reference, "changes": given, "reason": reason}
    if not given:
        return app_page(
            screen,
            UPDATE,
            status=422,
            error="Say what changes: what happened, where, when or the category.",
            form=form,
        )

    def again(status: int, error: str) -> Response:
        return app_page(screen, UPDATE, status=status, error=error, form=form)

    answer, refused = await _send(screen, body, again)
    if answer is None:
        assert refused is not None
        return refused
    history = await _read_back(screen, body, reference)
    return screen.page("updated.html", answer=answer, result=answer["result"], report=history)


async def _read_back(screen: Screen, sent: dict[str, Any], reference: str) -> dict[str, Any] | None:
    """The report read back with the purpose just given, if the policy allows that."""
    rule = rule_of(screen, LOOKUP)
    if rule is None or sent["purpose"] not in rule.purposes:
        return None
    if rule.incident_reference_required and "incident_reference" not in sent:
        return None
    body = {k: v for k, v in sent.items() if k in ("purpose", "incident_reference")}
    body.update(type=LOOKUP.type, query={"reference": reference})
    try:
        answer = await screen.agent.transaction(body)
    except AgentError:
        return None
    report: dict[str, Any] | None = answer["result"].get("report")
    return report


async def annotate(request: Request) -> Response:
    """A note kept beside a signed witness statement."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    form = await form_of(request)
    body = await _body(screen, ANNOTATE, form)
    if isinstance(body, Response):
        return body

    def again(status: int, error: str) -> Response:
        return app_page(screen, ANNOTATE, status=status, error=error, form=form)

    answer, refused = await _send(screen, body, again)
    if answer is None:
        assert refused is not None
        return refused
    return screen.page("annotated.html", answer=answer, result=answer["result"])


def report_routes() -> list[Route]:
    """Routes ahead of OPTIK's own `/secure/{slug}`, which they take over for these apps."""
    return [
        Route("/secure/witness", witness_read, methods=["POST"]),
        Route("/secure/witness/sign", witness_sign, methods=["POST"]),
        Route("/secure/lookup", _prefilled(LOOKUP)),
        Route("/secure/lookup", lookup, methods=["POST"]),
        Route("/secure/update", _prefilled(UPDATE)),
        Route("/secure/update", update, methods=["POST"]),
        Route("/secure/annotate", _prefilled(ANNOTATE)),
        Route("/secure/annotate", annotate, methods=["POST"]),
    ]
