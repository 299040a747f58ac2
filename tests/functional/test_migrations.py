"""The alembic revisions build exactly the schema the models describe, on every database."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stackling.db import models
from stackling.db.api import Database, alembic_config


def _url(database_url, tmp_path):
    return database_url or f"sqlite:///{tmp_path / 'm.db'}"


def test_revisions_match_models(database_url, tmp_path):
    db = Database(_url(database_url, tmp_path))
    command.upgrade(alembic_config(db), "head")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    db.dispose()
    assert diff == []


def test_migrate_creates_then_is_current(database_url, tmp_path):
    db = Database(_url(database_url, tmp_path))
    assert db.migrate() == "created"
    assert db.migrate() == "current"
    db.dispose()


def _schema(db: Database) -> list:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master "
                                    "ORDER BY name").all()


def test_fresh_sqlite_database_is_a_copy_of_the_prepared_schema(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("STACKLING_CACHE_DIR", str(tmp_path / "cache"))
    first = Database(f"sqlite:///{tmp_path / 'first.db'}")
    assert first.migrate() == "created"
    templates = list((tmp_path / "cache" / "schema").glob("*.sqlite"))
    assert len(templates) == 1
    # Mark the template, to see that the next fresh database is a copy of it.
    with sqlite3.connect(templates[0]) as conn:
        conn.execute("PRAGMA user_version = 4242")
    conn.close()

    second = Database(f"sqlite:///{tmp_path / 'second.db'}")
    assert second.migrate() == "created"
    with second.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA user_version").scalar() == 4242
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    assert diff == []
    assert _schema(second) == _schema(first)
    assert second.migrate() == "current"
    first.dispose()
    second.dispose()
