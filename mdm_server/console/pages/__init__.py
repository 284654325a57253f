"""The console's pages, one module per audience."""

from __future__ import annotations

from fastapi import APIRouter

from mdm_server.console.pages import (
    admin,
    apps,
    audit,
    division_map,
    factor,
    flags,
    fleet,
    mash,
    missing_persons,
    officer,
    passkeys,
    releases,
    signin,
    sso,
    supervisor,
)

ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    factor.router,
    passkeys.router,
    sso.router,
    fleet.router,
    admin.router,
    apps.router,
    releases.router,
    audit.router,
    flags.router,
    officer.router,
    supervisor.router,
    division_map.router,
    mash.router,
    missing_persons.router,
)
