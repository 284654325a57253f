"""Storage: one engine per process and one unit of work (transaction) per request.

SQLite runs in WAL mode with foreign keys on. Write transactions start with `BEGIN IMMEDIATE`
and are serialised in process by a lock, so concurrent writers queue instead of failing with
"database is locked" when a read transaction tries to upgrade. PostgreSQL runs through
psycopg 3 with a connection pool.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

from mdm_server.config import Settings
from mdm_server.errors import TabardError

_BEGIN_OPTION = "tabard_sqlite_begin"
_WRITE_INFO = "tabard.write"
_ON_COMMIT_INFO = "tabard.before_commit"
_AFTER_COMMIT_INFO = "tabard.after_commit"


def insert_ignoring_conflicts(table: Table, **conflict: Any) -> dict[str, Any]:
    """`INSERT ... ON CONFLICT DO NOTHING` into `table`, by dialect name, built once by the
    caller: `statements[session.get_bind().dialect.name]`."""
    return {
        "postgresql": pg_insert(table).on_conflict_do_nothing(**conflict),
        "sqlite": sqlite_insert(table).on_conflict_do_nothing(**conflict),
    }


def libpq_url(sqlalchemy_url: str) -> str:
    """The `postgresql://` URL psycopg itself takes, from a SQLAlchemy one."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class DirectConnections:
    """PostgreSQL connections for the event loop itself, in autocommit, for the few hot
    requests answered by one statement (the quick check-in): no thread-pool hop, no BEGIN or
    COMMIT, no ping before use. A broken connection shows as an error from its statement,
    and the pool drops it when it comes back.

    Open only while the app runs (its lifespan opens and closes it); closed, `connection()`
    yields None and callers take their ordinary path."""

    def __init__(self, url: str, *, size: int) -> None:
        self._pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=1,
            max_size=size,
            open=False,
            kwargs={"autocommit": True},
            name="tabard-direct",
        )
        self._open = False

    async def open(self) -> None:
        await self._pool.open(wait=False)
        self._open = True

    async def close(self) -> None:
        self._open = False
        await self._pool.close()

    @asynccontextmanager
    async def connection(self, *, timeout_s: float) -> AsyncIterator[AsyncConnection[Any] | None]:
        if not self._open:
            yield None
            return
        async with self._pool.connection(timeout=timeout_s) as connection:
            yield connection


class ReadOnlyViolationError(RuntimeError):
    """A read-only unit of work tried to write: a programming error, not a client error."""


def normalise_url(url: str) -> str:
    """Send plain `postgresql://` URLs to psycopg 3, the driver Tabard ships with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(settings: Settings) -> Engine:
    """An engine for the configured database, with Tabard's connection settings applied."""
    url = normalise_url(settings.effective_database_url)
    if make_url(url).get_backend_name() == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
            },
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    # Up to twice db_pool_size, as before, but each connection is kept once opened: as an
    # overflow, those beyond db_pool_size were closed on return and opened again a moment
    # later, a new PostgreSQL backend each time, which under thousands of long polls was a
    # steady churn of connections (BENCHMARKS.md, "At fleet size").
    return create_engine(
        url,
        pool_size=settings.db_pool_size * 2,
        max_overflow=0,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, and transactions that Tabard begins itself (SQLAlchemy's recipe for
    pysqlite, which otherwise defers BEGIN and breaks SAVEPOINT)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages: large indexes stay hot
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def on_commit(session: Session, hook: Callable[[Session], None]) -> None:
    """Run `hook` just before this unit of work commits (once per hook)."""
    hooks: list[Callable[[Session], None]] = session.info.setdefault(_ON_COMMIT_INFO, [])
    if hook not in hooks:
        hooks.append(hook)


def _run_commit_hooks(session: Session) -> None:
    for hook in session.info.pop(_ON_COMMIT_INFO, []):
        hook(session)


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run `hook` once this unit of work has committed (never if it rolls back)."""
    session.info.setdefault(_AFTER_COMMIT_INFO, []).append(hook)


def _run_after_commit(session: Session) -> None:
    for hook in session.info.pop(_AFTER_COMMIT_INFO, []):
        hook()


def _refuse_writes_when_read_only(session: Any, _ctx: Any, _instances: Any) -> None:
    if session.info.get(_WRITE_INFO) is False and (session.new or session.dirty or session.deleted):
        raise ReadOnlyViolationError("a read-only unit of work tried to write")


event.listen(Session, "before_flush", _refuse_writes_when_read_only)


class Database:
    """An engine plus the unit-of-work factory every request and command uses."""

    def __init__(
        self, engine: Engine, *, bind: Connection | None = None, direct_size: int = 5
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        # For one-statement answers on the event loop; never inside a test's outer transaction.
        self.direct = (
            DirectConnections(engine.url.render_as_string(hide_password=False), size=direct_size)
            if self.dialect == "postgresql" and bind is None
            else None
        )
        self._sessions = sessionmaker(
            bind=bind if bind is not None else engine,
            class_=Session,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(build_engine(settings), direct_size=settings.db_pool_size)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction. Commits if the block succeeds; rolls back if it raises, unless the
        error is a `TabardError` that keeps its changes (a counted failed attempt, say)."""
        lock = self._write_lock if write else None
        if lock is not None:
            lock.acquire()
        session = self._sessions()
        session.info[_WRITE_INFO] = write
        try:
            if write and self.dialect == "sqlite":
                session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
            yield session
            _run_commit_hooks(session)
            session.commit()
            _run_after_commit(session)
        except TabardError as exc:
            if exc.keep_changes:
                _run_commit_hooks(session)
                session.commit()
                _run_after_commit(session)
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if lock is not None:
                lock.release()

    def dispose(self) -> None:
        self.engine.dispose()
