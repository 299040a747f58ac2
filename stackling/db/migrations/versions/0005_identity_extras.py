"""Keystone's v3 Policy API (/v3/policies), domain configs, endpoint groups, OAuth1
consumers; OS-INHERIT grants in the assignment key

``identity_assignment`` gets ``inherited`` in its primary key (as Keystone's
assignment table has), so a direct and an inherited grant of one role can coexist. The
table is rebuilt (new table, copy, rename): the one way that changes a primary key on
SQLite, PostgreSQL and MariaDB alike.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identity_policy',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('type', sa.String(length=255), nullable=False),
        sa.Column('blob', sa.Text(), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_table(
        'identity_domain_config',
        sa.Column('domain_id', sa.String(length=64), nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('domain_id'))
    op.create_table(
        'identity_endpoint_group',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_table(
        'identity_oauth_consumer',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    _rebuild_assignments(['type', 'actor_id', 'target_id', 'role_id', 'inherited'],
                         keep="1=1")


def downgrade() -> None:
    _rebuild_assignments(['type', 'actor_id', 'target_id', 'role_id'],
                         keep="inherited = false")
    op.drop_table('identity_oauth_consumer')
    op.drop_table('identity_endpoint_group')
    op.drop_table('identity_domain_config')
    op.drop_table('identity_policy')


def _rebuild_assignments(key: list[str], keep: str) -> None:
    """identity_assignment again with primary key ``key``, keeping the rows ``keep``."""
    op.create_table(
        'identity_assignment_new',
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('actor_id', sa.String(length=64), nullable=False),
        sa.Column('target_id', sa.String(length=64), nullable=False),
        sa.Column('role_id', sa.String(length=64), nullable=False),
        sa.Column('inherited', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['role_id'], ['identity_role.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint(*key))
    op.execute("INSERT INTO identity_assignment_new (type, actor_id, target_id, role_id, "
               "inherited) SELECT type, actor_id, target_id, role_id, inherited FROM "
               f"identity_assignment WHERE {keep}")
    op.drop_table('identity_assignment')
    op.rename_table('identity_assignment_new', 'identity_assignment')
