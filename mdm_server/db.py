"""Storage: one engine per process and one unit of work (transaction) per request.

SQLite runs in WAL mode with foreign keys on. Write transactions start with `BEGIN IMMEDIATE`
and are serialised in process by a lock, so concurrent writers queue instead of failing with
"database is locked" when a read transaction tries to upgrade. PostgreSQL runs through
psycopg 3 with a connection pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

from mdm_server import metrics
from mdm_server.config import Settings
from mdm_server.errors import TabardError

log = logging.getLogger(__name__)
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
    requests answered by one statement (the quick check-in, the idle poll): no thread-pool
    hop, no BEGIN or COMMIT, no ping before use.

    Requests do not each take a connection. Their statements queue, and a few senders each
    take everything queued and send it at once in pipeline mode: one write, one wake-up of
    the backend and one commit for the lot, where one connection per statement costs each of
    those per request. Statements sent together run in one implicit transaction, so they
    succeed or fail together: when any errs, or a lock is held longer than `LOCK_TIMEOUT`,
    none of them is written and each caller gets None and takes its ordinary path, which
    says what is wrong or does the work. Several senders let one batch wait on a lock while
    the next goes on; fewer senders than requests in flight is what makes batches.

    Open only while the app runs (its lifespan opens and closes it); closed, `one_row()`
    answers None."""

    SENDERS = 2
    MAX_BATCH = 64
    # A batch waiting this long for a row lock gives up, all of it: it never holds up, or is
    # chosen over, a transaction of the ordinary path's (deadlock detection starts at 1 s).
    LOCK_TIMEOUT = "200ms"

    def __init__(self, url: str) -> None:
        self._url = libpq_url(url)
        self._pool: AsyncConnectionPool | None = None
        self._queued: asyncio.Queue[_Asked] = asyncio.Queue()
        self._senders: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        pool = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self.SENDERS,  # each sender holds one while its batch is out
            open=False,
            kwargs={"autocommit": True, "options": f"-c lock_timeout={self.LOCK_TIMEOUT}"},
            name="tabard-direct",
        )
        await pool.open(wait=False)
        self._pool = pool
        self._queued = asyncio.Queue()  # on the running loop
        self._senders = [asyncio.create_task(self._send(pool)) for _ in range(self.SENDERS)]

    async def close(self) -> None:
        senders, self._senders = self._senders, []
        for sender in senders:
            sender.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        while not self._queued.empty():
            _answer(self._queued.get_nowait().row, None)
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def one_row(self, sql: str, params: dict[str, Any], *, timeout_s: float) -> Any | None:
        """The statement's first row, or None: no row, the statement (or one sent with it)
        erred and nothing was written, or no connection was free within `timeout_s`."""
        if not self._senders:
            return None
        asked = _Asked(sql, params, timeout_s, asyncio.get_running_loop().create_future())
        self._queued.put_nowait(asked)
        return await asked.row

    async def _send(self, pool: AsyncConnectionPool) -> None:
        while True:
            batch = [await self._queued.get()]
            while len(batch) < self.MAX_BATCH and not self._queued.empty():
                batch.append(self._queued.get_nowait())
            rows = await _rows(pool, batch)
            for asked, row in zip(batch, rows, strict=True):
                _answer(asked.row, row)


async def _rows(pool: AsyncConnectionPool, batch: list[_Asked]) -> list[Any | None]:
    """Each statement's first row, sent together; all None if any erred (then none of them
    was written, for they ran in one implicit transaction)."""
    metrics.ONE_STATEMENT_BATCH.observe(len(batch))
    try:
        async with pool.connection(timeout=batch[0].timeout_s) as connection:
            if len(batch) == 1:
                cursor = await connection.execute(batch[0].sql, batch[0].params, prepare=True)
                return [await cursor.fetchone()]
            async with connection.pipeline():
                cursors = [
                    await connection.execute(asked.sql, asked.params, prepare=True)
                    for asked in batch
                ]
            return [await cursor.fetchone() for cursor in cursors]
    except (psycopg.Error, PoolTimeout) as exc:
        metrics.ONE_STATEMENT_FAILED.inc()
        log.warning(
            "one-statement answers unavailable (%s); %d request(s) take the ordinary path",
            type(exc).__name__,
            len(batch),
        )
        return [None] * len(batch)


@dataclass(frozen=True)
class _Asked:
    sql: str
    params: dict[str, Any]
    timeout_s: float
    row: asyncio.Future[Any | None]


def _answer(row: asyncio.Future[Any | None], value: Any | None) -> None:
    if not row.done():  # its request may have gone
        row.set_result(value)


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

    def __init__(self, engine: Engine, *, bind: Connection | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        # For one-statement answers on the event loop; never inside a test's outer transaction.
        self.direct = (
            DirectConnections(engine.url.render_as_string(hide_password=False))
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
        return cls(build_engine(settings))

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
