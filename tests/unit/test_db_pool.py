"""The SQLite engine's pool: one process's threads never wait for a connection."""

from __future__ import annotations

import contextlib
import threading

from sqlalchemy import text

from stackling.db.api import Database


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
