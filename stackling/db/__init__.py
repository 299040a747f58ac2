"""Database: SQLAlchemy 2 models, sessions and alembic migrations."""
