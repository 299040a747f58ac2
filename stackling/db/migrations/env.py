"""Alembic environment: runs against the engine stackling hands over."""

from alembic import context

from stackling.db import models

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=models.Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    context.run_migrations()
