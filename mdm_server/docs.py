"""The OpenAPI document, and its pages (/docs and /redoc) served with their scripts from this
server.

FastAPI's defaults load Swagger UI and ReDoc from a public CDN: a blank page on an
air-gapped force network, and a request leaving the server on any other. The assets come
from the fastapi-offline package (Swagger UI 5, ReDoc 2); the routes are Tabard's own.

FastAPI documents its own 422 shape on every route, which Tabard never answers. The document
here instead gives each route the errors it can answer, all in Tabard's one shape
(`ErrorBody`): from its access rule (401, 403), its path (404), its parameters and body (400,
413, 422), and whatever else the route declares with `error_responses(...)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles

from mdm_server.deps import DeviceAccess, PublicAccess, StaffAccess, access_rules
from mdm_server.errors import ERROR_STATUSES, ErrorBody

ASSETS_URL = "/api-docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get("/docs")
async def swagger_ui(request: Request, _: PublicAccess) -> HTMLResponse:
    """The interactive API reference."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title="Tabard API",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
    )


@router.get("/redoc")
async def redoc(request: Request, _: PublicAccess) -> HTMLResponse:
    """The API reference as one readable page."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title="Tabard API",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )


def errors_answered(dependant: Dependant, *, has_body: bool) -> set[int]:
    """The error statuses any route of this shape can answer, whatever it does."""
    statuses: set[int] = set()
    rules = access_rules(dependant)
    if any(isinstance(rule, StaffAccess) for rule in rules):
        statuses |= {401, 403}
    if any(isinstance(rule, DeviceAccess) for rule in rules):
        statuses.add(401)
    path_params = {field.alias for field in _params(dependant, "path_params")}
    if path_params:
        statuses.add(404)
    if DEVICE_REFERENCE in path_params:
        statuses.add(409)  # a short id that starts several devices' ids
    given = any(
        _params(dependant, kind) for kind in ("path_params", "query_params", "header_params")
    )
    if given or has_body:
        # 422: what the schema refuses; 400: a value it allows that cannot apply (a time range
        # ending before it starts, a proof for a tree larger than the log).
        statuses |= {400, 422}
    if has_body:
        statuses.add(413)
    return statuses


def _params(dependant: Dependant, kind: str) -> list[Any]:
    """The route's parameters of one kind, its dependencies' included."""
    found = list(getattr(dependant, kind))
    for child in dependant.dependencies:
        found.extend(_params(child, kind))
    return found


# Every route names a device by this path parameter: its id, its serial, or a short id that
# may name several devices (409, saying to give more of it).
DEVICE_REFERENCE = "reference"
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _error_schemas() -> dict[str, Any]:
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    defined = schema.pop("$defs", {})
    return {**defined, "ErrorBody": schema}


def document_errors(app: FastAPI, document: dict[str, Any]) -> None:
    """Replace FastAPI's 422 with Tabard's error shape, and add every error each route
    answers (see the module's docstring)."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(_error_schemas())
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or not getattr(route, "include_in_schema", True):
            continue
        answered = errors_answered(dependant, has_body=route.body_field is not None)
        for method in route.methods or ():
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(answered | _declared(responses)):
                responses[str(status)] = {
                    "description": ERROR_STATUSES[status],
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
            operation["responses"] = dict(sorted(responses.items()))


def _declared(responses: dict[str, Any]) -> set[int]:
    return {int(status) for status in responses if status.isdigit() and int(status) >= 400}


def install_docs(app: FastAPI) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")
    app.include_router(router)
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document_errors(app, document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
