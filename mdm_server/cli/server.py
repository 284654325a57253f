"""`tabard serve`, `tabard db upgrade`, `tabard admin create`: commands run on the server host,
against the database and data directory that TABARD_* settings name."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from mdm_server.config import Settings
from tabard.output import fail, print_json, read_secret_stdin, stdout

if TYPE_CHECKING:
    from mdm_server.db import Database

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Bootstrap administrators on the server host.", no_args_is_help=True)


def load_settings() -> Settings:
    """Settings from the environment, or a readable error naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TABARD_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        fail(f"bad configuration: {problems}")


@contextmanager
def server_database() -> Iterator[tuple[Settings, Database]]:
    """The settings and database of a command run on the server host, once the schema is
    known to be current."""
    from mdm_server.db import Database

    settings = load_settings()
    problem = schema_problem(settings)
    if problem:
        fail(problem)
    database = Database.from_settings(settings)
    try:
        yield settings, database
    finally:
        database.dispose()


def schema_problem(settings: Settings) -> str | None:
    from sqlalchemy.exc import OperationalError

    from mdm_server.db import build_engine
    from mdm_server.migrate import current_revision, head_revision

    engine = build_engine(settings)
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    except OperationalError as exc:
        return f"cannot open the database: {exc.orig}"
    finally:
        engine.dispose()
    if revision != head_revision():
        return (
            f"the database schema is at {revision or 'nothing'} and this server needs "
            f"{head_revision()}; run `tabard db upgrade`"
        )
    return None


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(
            help="Addresses of the load balancers or proxies in front (comma-separated, or "
            "'*'): their X-Forwarded-For and X-Forwarded-Proto are believed, so the audit log "
            "and sign-in throttling see each client's own address. Unset: none is believed.",
        ),
    ] = None,
) -> None:
    """Run the Tabard server."""
    import uvicorn

    from mdm_server.context import AppContext
    from mdm_server.crypto.keystore import KeyStoreError
    from mdm_server.logs import configure_logging, uvicorn_json_log_config

    settings = load_settings()
    problem = schema_problem(settings)
    if problem:
        fail(problem)
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        stdout.print(
            "[yellow]note:[/] several workers on SQLite serialise on its write lock; "
            "use PostgreSQL (TABARD_DATABASE_URL) for more than one worker"
        )
    try:
        AppContext.build(settings).database.dispose()  # create keys once, before workers fork
    except KeyStoreError as exc:
        fail(str(exc))
    if workers > 1:
        _share_metrics(settings.data_dir / "metrics")
    serving = (
        f"Tabard serving on http://{host}:{port} (public URL {settings.public_url}); "
        f"console at http://{host}:{port}/console, OpenAPI at http://{host}:{port}/docs"
    )
    if settings.log_format == "json":  # every line a log shipper reads is JSON, this one too
        configure_logging(settings.log_level, "json")
        logging.getLogger("tabard.serve").info(serving)
        logging_options: dict[str, object] = {"log_config": uvicorn_json_log_config()}
    else:
        stdout.print(serving)
        logging_options = {}  # uvicorn's own lines, as a person at a terminal expects
    uvicorn.run(
        "mdm_server.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
        proxy_headers=trusted_proxies is not None,
        forwarded_allow_ips=trusted_proxies,
        # Agents hold long polls open; on shutdown they are cut after this, and reconnect.
        timeout_graceful_shutdown=5,
        **logging_options,  # type: ignore[arg-type]
    )


def _share_metrics(directory: Path) -> None:
    """Several workers count into files in `directory`, emptied first, so a scrape of any
    one of them adds up all of them (prometheus_client's multiprocess mode). Set before the
    workers start, as the client reads it when it is first imported there."""
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (creates the SQLite database on first run)."""
    from sqlalchemy.exc import OperationalError

    from mdm_server.db import build_engine
    from mdm_server.migrate import head_revision, upgrade

    settings = load_settings()
    engine = build_engine(settings)
    try:
        upgrade(engine)
    except OperationalError as exc:
        fail(f"cannot open the database: {exc.orig}")
    finally:
        engine.dispose()
    stdout.print(f"Database at schema {head_revision()}: {_display_url(settings)}")


def _display_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


@admin_app.command("create")
def admin_create(
    username: Annotated[str, typer.Option(help="The administrator's username.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing if an active IT administrator exists.")
    ] = False,
    display_name: Annotated[str, typer.Option(help="Full name.")] = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an IT administrator directly in the database: the way in on a fresh install.

    Without --password-stdin a one-time password is printed; it must be changed at first login."""
    from mdm_server.audit.service import Actor
    from mdm_server.auth import accounts, service
    from mdm_server.auth.schemas import UserCreate
    from mdm_server.clock import system_clock
    from mdm_server.crypto.passwords import PasswordHasher, one_time_password
    from mdm_server.errors import TabardError

    with server_database() as (settings, database):
        with database.unit_of_work(write=False) as session:
            exists = accounts.any_active_admin(session)
        if if_missing and exists:
            if json_output:
                print_json({"created": False})
            else:
                stdout.print("An administrator already exists; log in with `tabard login`.")
            return
        password = read_secret_stdin("password") if password_stdin else one_time_password()
        try:
            data = UserCreate(username=username, role="it_admin", display_name=display_name)
            service.check_password_policy(password, settings=settings, username=username)
        except ValidationError as exc:
            fail("; ".join(str(err["msg"]) for err in exc.errors()))
        except TabardError as exc:
            fail(str(exc.detail))
        password_hash = PasswordHasher(settings).hash(password)
        actor = Actor.system(f"tabard admin create (uid {_uid()})")
        try:
            with database.unit_of_work() as session:
                accounts.create_user(
                    session,
                    data=data,
                    password_hash=password_hash,
                    must_change_password=not password_stdin,
                    actor=actor,
                    now=system_clock(),
                )
        except TabardError as exc:
            fail(str(exc.detail))
    _report_admin(username, None if password_stdin else password, settings.public_url, json_output)


def _uid() -> int:
    return os.getuid()


def _report_admin(username: str, one_time: str | None, url: str, json_output: bool) -> None:
    if json_output:
        print_json({"created": True, "username": username, "one_time_password": one_time})
        return
    stdout.print(f"Created administrator [bold]{username}[/].")
    if one_time:
        stdout.print(f"One-time password: [bold]{one_time}[/] (you will be asked to change it)")
    stdout.print(f"Log in with:  tabard login --server {url} --username {username}")
    stdout.print(f"Or in a browser:  {url}/console")
    sys.stdout.flush()
