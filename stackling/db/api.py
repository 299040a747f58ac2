"""Engine, sessions and the transaction helpers every object module uses.

``with db.reader() as s`` and ``with db.writer() as s`` mark the transaction boundary
where the work is done, as placement's reader/writer decorators do. SQLite is the
embedded default; PostgreSQL (psycopg) and MariaDB (PyMySQL) work by URL.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import tenacity
from sqlalchemy import create_engine, event, exc, inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import queue as sqla_queue

LOG = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Pick the drivers we ship for bare ``postgresql://`` and ``mysql://`` URLs."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername in ("mysql", "mariadb"):
        u = u.set(drivername="mysql+pymysql")
    if u.drivername.startswith("mysql") and "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    return u.render_as_string(hide_password=False)


F = TypeVar("F", bound=Callable)

# Deadlock and serialization-failure codes: PostgreSQL SQLSTATEs, MySQL/MariaDB errnos.
_PG_RETRY = {"40001", "40P01"}
_MYSQL_RETRY = {1213, 1205}


def is_retriable(error: BaseException) -> bool:
    """A deadlock, a serialization failure or SQLite's busy lock: the transaction may be
    run again from the start (oslo.db's ``DBDeadlock``)."""
    if not isinstance(error, exc.DBAPIError):
        return False
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _PG_RETRY:
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in _MYSQL_RETRY:
        return True
    return "database is locked" in str(orig)


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached or gave no connection: refused, dropped, "too
    many clients", or this process's pool empty for pool_timeout (oslo.db's
    ``DBConnectionError``)."""
    if isinstance(error, exc.TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated or isinstance(error, exc.OperationalError) \
            and not is_retriable(error)
    return False


def retry_on_disconnect(fn: F) -> F:
    """Run a whole transaction again while the database is unreachable (or deadlocked),
    for up to a minute: for the writes that end a failure (a server to ERROR), which
    must not be lost to the same outage that caused it (oslo.db's ``wrap_db_retry(
    retry_on_disconnect=True)``)."""
    return tenacity.retry(
        retry=tenacity.retry_if_exception(lambda e: is_unavailable(e) or is_retriable(e)),
        stop=tenacity.stop_after_delay(60),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=2.0),
        reraise=True)(fn)


DEADLOCK_ATTEMPTS = 20
_DEADLOCK_FIRST_WAIT = 0.02


def retry_on_deadlock(fn: F) -> F:
    """Run a whole transaction again on deadlock, as oslo.db's
    ``wrap_db_retry(retry_on_deadlock=True)`` does: a few attempts, growing jittered waits.
    The wrapped function must open (and so redo) its own transaction.

    The first attempt is a plain call: tenacity's bookkeeping (a copy of the policy and
    its state per call, ~17 µs) is paid only once a deadlock happened, on the writes of
    every boot. The retries then run under tenacity, 20 attempts in all."""
    again = tenacity.retry(
        retry=tenacity.retry_if_exception(is_retriable),
        stop=tenacity.stop_after_attempt(DEADLOCK_ATTEMPTS - 1),
        wait=tenacity.wait_random_exponential(multiplier=_DEADLOCK_FIRST_WAIT, max=1.0),
        reraise=True)(fn)

    @functools.wraps(fn)
    def first_then_retried(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            if not is_retriable(error):
                raise
        time.sleep(random.uniform(0, _DEADLOCK_FIRST_WAIT))
        return again(*args, **kwargs)

    return first_then_retried   # type: ignore[return-value]


def core(s: Session | Connection) -> Connection:
    """The Core connection under ``s``: a session's (its transaction's), or ``s`` itself,
    for object-layer functions that take either."""
    return s.connection() if isinstance(s, Session) else s


class PatientPool(QueuePool):
    """SQLAlchemy's QueuePool, except that once every kept connection (max_pool_size) is
    out, a checkout first waits up to ``overflow_wait`` seconds for one to come back
    before it opens an overflow connection (max_overflow).

    QueuePool opens an overflow connection at once and closes it when it comes back to a
    full pool. Under a steady load with more threads in transactions than kept
    connections, that is a new database session for most checkouts: on PostgreSQL a
    backend forked and authenticated, about 3 ms of CPU here (BENCHMARKS.md, issue 14).
    The transactions are short, so one comes back soon; a thread that holds a connection
    while it needs a second still gets it, only ``overflow_wait`` later. Not a setting
    of oslo.db (doc/architecture.md).
    """

    overflow_wait = 0.2

    def _do_get(self):
        # _overflow counts the connections open beyond max_pool_size (negative while
        # the pool is still filling); read without its lock: a hint, not a guarantee.
        # max_pool_size 0 keeps every connection (no overflow to spare): nothing to wait.
        if self._overflow >= 0 and self._max_overflow != 0 and self._pool.maxsize > 0:
            try:
                return self._pool.get(True, self.overflow_wait)
            except sqla_queue.Empty:
                pass
        return super()._do_get()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, max_pool_size: int = 10, max_overflow: int = 20,
                 pool_timeout: int = 30) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict = {"future": True, "pool_size": max_pool_size,
                        "pool_timeout": pool_timeout}
        if self.is_sqlite and self._sqlite_file() is None:
            kwargs = {"future": True, "connect_args": {"check_same_thread": False}}
        elif self.is_sqlite:
            # No limit: a thread holding a reader while it waits for the one writer (or
            # for an in-process call that opens a session of its own) must never starve
            # the writer of a connection; 32 kept open spare a busy cloud the reconnects.
            kwargs.update(pool_size=max(max_pool_size, 32), max_overflow=-1,
                          connect_args={"check_same_thread": False, "timeout": 30})
        else:
            kwargs.update(max_overflow=max_overflow, pool_pre_ping=True, pool_recycle=3600,
                          poolclass=PatientPool)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # NOTE: SQLite has one writer at a time; serialising our own writers in-process
        # avoids busy-waiting and SQLITE_BUSY on read-to-write upgrades.
        self._write_lock = threading.RLock() if self.is_sqlite else None

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextlib.contextmanager
    def writer(self) -> Iterator[Session]:
        lock = self._write_lock or contextlib.nullcontext()
        # The session is made before the lock is taken and closed (its connection back in
        # the pool) after it is released: the lock covers the transaction, begin to commit.
        with self._sessions() as session, lock, session.begin():
            yield session

    # Core connections, without an ORM Session around them (oslo.db's ``reader.connection``
    # and ``writer.connection``): for hot paths whose statements are all Core. A Session's
    # own bookkeeping (begin, identity map, close) costs about as much as the connection
    # under it, and a writer's was paid while it held SQLite's one write lock.

    @contextlib.contextmanager
    def reader_connection(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def writer_connection(self) -> Iterator[Connection]:
        lock = self._write_lock or contextlib.nullcontext()
        with self.engine.connect() as conn, lock, conn.begin():
            yield conn

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -----------------------------------------------------------------------

    def _sqlite_file(self) -> Path | None:
        """The file of a SQLite database (None for a server or an in-memory one)."""
        database = make_url(self.url).database if self.is_sqlite else None
        return Path(database) if database and database != ":memory:" else None

    def is_fresh(self) -> bool:
        """True when the database has no stackling tables yet."""
        with self.engine.connect() as conn:
            return not set(inspect(conn).get_table_names()) - {"alembic_version"}

    def make_private(self) -> None:
        """A SQLite database file (and its journal files) readable by the owner only."""
        if not self.is_sqlite:
            return
        name = self.engine.url.database
        if not name or name == ":memory:":
            return
        for suffix in ("", "-wal", "-shm"):
            path = Path(name + suffix)
            if path.exists():
                path.chmod(0o600)

    def migrate(self) -> str:
        """Bring the schema to the newest revision; returns what was done.

        A fresh database gets the whole schema from the models and is stamped at head
        (alembic's documented "create_all, then stamp" recipe: fast, and identical to
        running every revision, which ``tests/functional/test_migrations.py`` checks). A
        database at an older revision is upgraded through the revisions.
        """
        from stackling.db import models

        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            current = None
            if "alembic_version" in tables:
                current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        head = _head_revision()
        if current == head:
            return "current"
        if not tables - {"alembic_version"}:
            db_file = self._sqlite_file()
            if db_file is not None and not tables:
                from stackling.db import template

                self.engine.dispose()
                if template.restore(db_file, head):
                    return "created"
            models.Base.metadata.create_all(self.engine)
            _stamp(self.engine, head)
            if db_file is not None:
                template.save(db_file, head)
            return "created"
        _alembic("upgrade", self, "head")
        return "upgraded"


def _stamp(engine: Engine, revision: str) -> None:
    """What ``alembic stamp`` writes, without loading alembic on the start-up path."""
    from sqlalchemy import Column, MetaData, String, Table

    table = Table("alembic_version", MetaData(),
                  Column("version_num", String(32), primary_key=True, nullable=False))
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        conn.execute(table.delete())
        conn.execute(table.insert().values(version_num=revision))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _head_revision() -> str:
    """The head revision id, read from the revision files without importing alembic."""
    revisions, downs = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith("revision ="):
                revisions.add(line.split("=", 1)[1].strip().strip("\"'"))
            elif line.startswith("down_revision ="):
                value = line.split("=", 1)[1].strip()
                if value != "None":
                    downs.add(value.strip("\"'"))
    heads = revisions - downs
    if len(heads) != 1:
        raise RuntimeError(f"expected one alembic head, found {sorted(heads)}")
    return heads.pop()


def alembic_config(db: Database):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = db.engine
    return cfg


def _alembic(action: str, db: Database, revision: str) -> None:
    from alembic import command

    getattr(command, action)(alembic_config(db), revision)
