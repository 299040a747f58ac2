"""volume (host, size) index: the scheduler's sums per backend read the index alone

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:30:00
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.drop_index('ix_volume_host')
        batch_op.create_index('ix_volume_host_size', ['host', 'size'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.drop_index('ix_volume_host_size')
        batch_op.create_index('ix_volume_host', ['host'], unique=False)
