"""The console's pages, one module per audience."""

from __future__ import annotations

from fastapi import APIRouter

from mdm_server.console.pages import (
    admin,
    audit,
    flags,
    fleet,
    mash,
    officer,
    signin,
    supervisor,
)

ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    fleet.router,
    admin.router,
    audit.router,
    flags.router,
    officer.router,
    supervisor.router,
    mash.router,
)
