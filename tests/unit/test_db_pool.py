"""The SQLite engine's pool: one process's threads never wait for a connection."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from sqlalchemy import text

from stackling.db.api import Database, PatientPool


def test_sqlite_gives_every_thread_a_connection_at_once(tmp_path):
    """40 threads each holding a session (more than QueuePool's default 5 + 10) all get
    theirs without waiting for another to give one back."""
    db = Database(f"sqlite:///{tmp_path}/pool.db")
    db.engine.pool._timeout = 2     # a pool that runs out fails in 2 s, not 30
    held = threading.Barrier(41, timeout=20)
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with db.reader() as s:
                s.execute(text("select 1"))
                held.wait()
        except BaseException as exc:     # noqa: BLE001 - reported below
            errors.append(exc)
            with contextlib.suppress(threading.BrokenBarrierError):
                held.abort()

    threads = [threading.Thread(target=hold) for _ in range(40)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        held.wait()
    for t in threads:
        t.join()
    db.dispose()
    assert not errors, errors[:1]


def test_server_pool_takes_oslo_db_options(tmp_path):
    """stackling.conf [database] max_pool_size / max_overflow / pool_timeout size each
    process's pool on PostgreSQL or MariaDB (10, 20, 30 by default)."""
    from stackling import conf

    (tmp_path / "stackling.conf").write_text(
        "[database]\nmax_pool_size = 3\nmax_overflow = 4\npool_timeout = 7\n")
    pool = conf.load(tmp_path).stackling.database
    db = Database("postgresql+psycopg://u@127.0.0.1:1/x", pool.max_pool_size,
                  pool.max_overflow, pool.pool_timeout)
    assert (db.engine.pool.size(), db.engine.pool._max_overflow,
            db.engine.pool._timeout) == (3, 4, 7)
    defaults = conf.load(tmp_path / "none").stackling.database
    assert (defaults.max_pool_size, defaults.max_overflow, defaults.pool_timeout) == \
        (10, 20, 30)


class _Counted:
    """A DB-API connection stand-in that counts how many were opened."""

    opened = 0

    def __init__(self) -> None:
        type(self).opened += 1

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def _patient(pool_size: int, max_overflow: int, wait: float):
    class Pool(PatientPool):
        overflow_wait = wait

    _Counted.opened = 0
    return Pool(_Counted, pool_size=pool_size, max_overflow=max_overflow, timeout=5)


def test_patient_pool_waits_for_a_kept_connection_before_opening_another():
    """Every kept connection out: the next checkout gets the one given back meanwhile,
    and no overflow connection is opened (QueuePool would open one at once)."""
    pool = _patient(1, 5, wait=5.0)
    first = pool.connect()
    threading.Timer(0.2, first.close).start()
    second = pool.connect()
    assert _Counted.opened == 1
    assert pool.checkedout() == 1 and pool.overflow() == 0
    second.close()


def test_patient_pool_opens_an_overflow_connection_after_the_wait():
    """Nobody gives one back (a thread holding a connection wants a second): an overflow
    connection is opened once the wait is over, not after pool_timeout."""
    pool = _patient(1, 5, wait=0.1)
    first = pool.connect()
    t0 = time.monotonic()
    second = pool.connect()
    assert 0.1 <= time.monotonic() - t0 < 2.0
    assert _Counted.opened == 2 and pool.overflow() == 1
    second.close()
    first.close()


@pytest.mark.parametrize("pool_size", [3, 0])
def test_patient_pool_opens_at_once_what_it_may_keep(pool_size):
    """While fewer than max_pool_size are open, a checkout opens one at once; so does
    every checkout of a pool of size 0 (SQLAlchemy: no limit, every connection kept)."""
    pool = _patient(pool_size, 5, wait=5.0)
    t0 = time.monotonic()
    held = [pool.connect() for _ in range(3)]
    assert time.monotonic() - t0 < 1.0 and _Counted.opened == 3
    for c in held:
        c.close()


def test_server_pool_is_patient(tmp_path):
    """PostgreSQL and MariaDB engines use it; SQLite keeps its unbounded pool."""
    for url in ("postgresql+psycopg://u@127.0.0.1:1/x", "mysql+pymysql://u@127.0.0.1:1/x"):
        assert isinstance(Database(url).engine.pool, PatientPool), url
    db = Database(f"sqlite:///{tmp_path}/pool.db")
    assert not isinstance(db.engine.pool, PatientPool)
    db.dispose()
