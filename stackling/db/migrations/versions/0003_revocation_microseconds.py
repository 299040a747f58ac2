"""revocation times with microseconds on MySQL/MariaDB

A token issued in the same second as a password change must be revoked: MariaDB's
DATETIME drops fractions of a second unless declared DATETIME(6).

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for column in ("issued_before", "revoked_at"):
            op.alter_column("identity_revocation_event", column,
                            type_=mysql.DATETIME(fsp=6), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for column in ("issued_before", "revoked_at"):
            op.alter_column("identity_revocation_event", column, type_=sa.DateTime(),
                            existing_nullable=False)
