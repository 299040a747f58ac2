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
