"""The alembic revisions build exactly the schema the models describe, on every database."""

from __future__ import annotations

import sqlalchemy as sa
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


def _revisions(db) -> list[tuple[str, str]]:
    """(revision, the one before it or "base"), oldest first: the upgrade path."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(db))
    return [(rev.revision, rev.down_revision or "base")
            for rev in reversed(list(script.walk_revisions()))]


def _tables(db) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def _current(db) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_path_revision_by_revision(database_url, tmp_path):
    # From an empty database, each revision is upgraded to from the one before it, then
    # downgraded back and upgraded again (the round trip a rollback takes); at head the
    # schema is exactly the models'. A new revision is tested from its predecessor here
    # without changing this test.
    db = Database(_url(database_url, tmp_path))
    cfg = alembic_config(db)
    assert _tables(db) == set()
    revisions = _revisions(db)
    assert revisions[0][1] == "base"
    tables_at = {"base": set()}
    for revision, previous in revisions:
        command.upgrade(cfg, revision)
        assert _current(db) == revision
        tables_at[revision] = _tables(db)
        command.downgrade(cfg, previous)
        assert _current(db) == (None if previous == "base" else previous)
        assert _tables(db) == tables_at[previous]
        command.upgrade(cfg, revision)
        assert _tables(db) == tables_at[revision]
    assert _current(db) == revisions[-1][0]
    assert tables_at[revisions[-1][0]] == set(models.Base.metadata.tables)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    assert diff == []
    command.downgrade(cfg, "base")
    assert _tables(db) == set()
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
