"""`create_app(settings)`: the one place the server is assembled."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mdm_server.appropriate_use.routes import router as appropriate_use_router
from mdm_server.apps import releases
from mdm_server.apps.downloads import device_router as apps_device_router
from mdm_server.apps.release_routes import router as releases_router
from mdm_server.apps.routes import APK_UPLOAD_PATH
from mdm_server.apps.routes import router as apps_router
from mdm_server.audit.routes import router as audit_router
from mdm_server.auth.factor_routes import mfa_router
from mdm_server.auth.passkey_routes import passkey_router
from mdm_server.auth.routes import auth_router, users_router
from mdm_server.auth.sso_routes import router as sso_router
from mdm_server.clock import Clock, system_clock
from mdm_server.commands import broker, delivery
from mdm_server.commands.broker import BrokerPublisher
from mdm_server.commands.routes import commands_router, me_router
from mdm_server.commands.routes import device_router as commands_device_router
from mdm_server.commands.wakeups import PostgresListener
from mdm_server.config import Settings
from mdm_server.console.install import install_console
from mdm_server.context import AppContext
from mdm_server.db import Database
from mdm_server.demand.routes import router as demand_router
from mdm_server.deps import assert_every_route_declares_access
from mdm_server.devices.routes import device_router as checkin_router
from mdm_server.devices.routes import fleet_router, inventory_router
from mdm_server.docs import install_docs
from mdm_server.enrolment.routes import ca_router, tokens_router
from mdm_server.enrolment.routes import device_router as enrolment_router
from mdm_server.errors import install_error_handlers
from mdm_server.geo.device_routes import device_map_router
from mdm_server.geo.routes import router as map_router
from mdm_server.health import metrics_router
from mdm_server.health import router as health_router
from mdm_server.logs import configure_logging
from mdm_server.middleware import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    ResponseHeadersMiddleware,
)
from mdm_server.missing_persons.routes import router as missing_persons_router
from mdm_server.policies.routes import assignments_router, compliance_router, policies_router
from mdm_server.policies.routes import device_router as device_policy_router
from mdm_server.provisioning.routes import provisioning_router
from mdm_server.safeguarding.routes import router as safeguarding_router
from mdm_server.scheduler import start_scheduler
from mdm_server.scheduler.routes import router as scheduler_router
from mdm_server.secure.routes import containers_router, officers_router
from mdm_server.secure.routes import device_router as secure_router
from mdm_server.secure.routes import me_router as secure_me_router
from mdm_server.stopping import hearing_stop_signals

VERSION = "0.1.0"
DESCRIPTION = """Tabard enrols and polices a police force's Android fleet and guards the secure
side where the police apps run. Staff authenticate with `POST /api/v1/auth/login`; devices with
an ES256 assertion signed by their enrolled key (see docs/device-protocol.md)."""


def create_app(
    settings: Settings, *, database: Database | None = None, clock: Clock = system_clock
) -> FastAPI:
    """Build the server: open storage, load or create keys, wire routes. Reads no environment."""
    context = AppContext.build(settings, database=database, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        listener = None
        if context.database.dialect == "postgresql":
            # The database the app was given, which a test's settings need not name.
            url = context.database.engine.url.render_as_string(hide_password=False)
            listener = PostgresListener(url, context.wakeups)
            listener.start()
        if context.database.direct is not None:
            await context.database.direct.open()
        if settings.command_broker_url:
            context.wakeups.publisher = BrokerPublisher(
                settings.command_broker_url, context.master_key.derive(broker.KEY_PURPOSE)
            )
            await context.wakeups.publisher.start()
        scheduler = start_scheduler(context) if settings.scheduler_enabled else None
        try:
            # A stop answers held long polls at once, so the server need not wait them out.
            with hearing_stop_signals(asyncio.get_running_loop(), context.wakeups.stop):
                yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if listener is not None:
                listener.stop()
            if context.database.direct is not None:
                await context.database.direct.close()
            if context.wakeups.publisher is not None:
                await context.wakeups.publisher.close()
            if database is None:
                context.database.dispose()

    delivery.listen_for_receipts(releases.on_receipt)
    app = FastAPI(
        title="Tabard",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from this server by mdm_server.docs, not from a CDN
        redoc_url=None,
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = context
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger={APK_UPLOAD_PATH: settings.apk_max_bytes},
    )
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    # Device routes first: FastAPI matches routers in order, and check-ins are the hot path.
    for router in (
        checkin_router,
        commands_device_router,
        device_policy_router,
        apps_device_router,
        secure_router,
        device_map_router,
        enrolment_router,
        health_router,
        metrics_router,
        auth_router,
        sso_router,
        mfa_router,
        passkey_router,
        users_router,
        tokens_router,
        ca_router,
        inventory_router,
        fleet_router,
        policies_router,
        assignments_router,
        compliance_router,
        officers_router,
        containers_router,
        commands_router,
        releases_router,
        me_router,
        secure_me_router,
        scheduler_router,
        provisioning_router,
        audit_router,
        appropriate_use_router,
        demand_router,
        map_router,
        missing_persons_router,
        safeguarding_router,
        apps_router,
    ):
        app.include_router(router)
    install_docs(app)
    install_console(app, map_origin=settings.map_origin)
    # Outermost, so answers the other middleware make themselves (a 413) carry them too.
    app.add_middleware(ResponseHeadersMiddleware)
    assert_every_route_declares_access(app)
    return app


# Young collections every 50,000 allocations rather than 700, and full ones a tenth as often.
GC_THRESHOLDS = (50_000, 50, 100)


def create_app_from_env() -> FastAPI:
    """The factory `tabard serve` hands to uvicorn: settings come from `TABARD_*` now."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    settle_garbage_collector()
    return app


def settle_garbage_collector() -> None:
    """A collection of the oldest generation looks at every object alive, and a server holding
    thousands of long polls has many: at CPython's thresholds they took about a third of a
    held poll's cost (BENCHMARKS.md, "Command delivery"). What start-up built lives as long as
    the process, so it is frozen out of every collection, and collections come less often.
    Called by the server's own process only: a test process building many apps keeps
    CPython's defaults."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
