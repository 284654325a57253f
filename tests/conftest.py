"""Shared fixtures. Storage-touching tests form one conformance suite, run on SQLite and, when
TABARD_TEST_DATABASE_URL is set, on PostgreSQL (CI always sets it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from mdm_server.config import Settings
from mdm_server.db import Database, build_engine
from mdm_server.main import create_app
from mdm_server.migrate import upgrade
from tests.databases import PostgresDatabases
from tests.factories.adb import make_signer
from virtual_device.host import DeviceHost

PG_URL = os.environ.get("TABARD_TEST_DATABASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and not PG_URL:
        raise pytest.UsageError(
            "CI must export TABARD_TEST_DATABASE_URL so the storage tests also run on PostgreSQL"
        )
    # Tests build their own settings; none may leak in from the developer's environment.
    for name in list(os.environ):
        if name.startswith("TABARD_") and name != "TABARD_TEST_DATABASE_URL":
            del os.environ[name]
    # Nor a terminal size: pytest-xdist's workers are given COLUMNS=80, which the CLI's console
    # would read once at import and then lay every table out as cards.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for tests: cheap Argon2 (the production cost is for production), no scheduler."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "public_url": "http://testserver",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "scheduler_enabled": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip(
            "the PostgreSQL run (the SQLite run goes ahead): set TABARD_TEST_DATABASE_URL for it"
        )
    return str(request.param)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases | None]:
    if not PG_URL:
        yield None
        return
    databases = PostgresDatabases(PG_URL)
    yield databases
    databases.admin.dispose()


def fresh_engine(backend: str, directory: Path, postgres: PostgresDatabases | None) -> Engine:
    """A new, migrated, empty database on `backend`."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'tabard.db'}"
    else:
        assert postgres is not None
        url = postgres.create()
    engine = build_engine(make_settings(directory, database_url=url))
    upgrade(engine)
    return engine


def dispose_engine(engine: Engine, postgres: PostgresDatabases | None) -> None:
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    if engine.dialect.name == "postgresql" and postgres is not None:
        postgres.drop(url)


@pytest.fixture(scope="session")
def migrated_engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres: PostgresDatabases | None
) -> Iterator[Engine]:
    engine = fresh_engine(backend, tmp_path_factory.mktemp(backend), postgres)
    yield engine
    dispose_engine(engine, postgres)


@pytest.fixture
def database(migrated_engine: Engine) -> Iterator[Database]:
    """A database whose every change in the test is rolled back at the end."""
    connection = migrated_engine.connect()
    outer = connection.begin()
    yield Database(migrated_engine, bind=connection)
    if outer.is_active:
        outer.rollback()
    connection.close()


@pytest.fixture
def committed_database(
    backend: str, tmp_path: Path, postgres: PostgresDatabases | None
) -> Iterator[Database]:
    """A fresh database of its own whose transactions really commit (for concurrency tests)."""
    engine = fresh_engine(backend, tmp_path, postgres)
    yield Database(engine)
    dispose_engine(engine, postgres)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def app(settings: Settings, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(settings, database=database, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_headers(app: FastAPI) -> dict[str, str]:
    from tests.factories.staff import headers_for

    return headers_for(app, "it_admin")


@pytest.fixture
def enrolled(client: TestClient, admin_headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """A device enrolled through the API."""
    from tests.factories.devices import SimulatedDevice
    from tests.factories.enrolment import create_token

    device = SimulatedDevice()
    response = device.enrol(client, create_token(client, admin_headers)["token"])
    assert response.status_code == 201, response.text
    return device


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> PythonRSASigner:
    """An ADB host key, as `adb` keeps in ~/.android/adbkey."""
    return make_signer(tmp_path_factory.mktemp("adbkey"))


@pytest.fixture(scope="session")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> PythonRSASigner:
    """A second host key the devices have never seen."""
    return make_signer(tmp_path_factory.mktemp("stranger"))


@pytest.fixture
def host() -> Iterator[DeviceHost]:
    """Virtual devices with adbd on TCP, for as long as the test runs."""
    with DeviceHost() as running:
        yield running
