"""Revision 0004 (networking, keypairs) upgrades a database that already has servers."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import command

from stackling.db.api import Database, alembic_config


def _value(column: sa.Column):
    kind = column.type
    if isinstance(kind, (sa.Integer, sa.Float)):
        return 0
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.DateTime):
        return dt.datetime(2026, 1, 1)
    if isinstance(kind, sa.JSON):
        return {}
    return "{}"   # valid JSON too: MariaDB reflects JSON columns as checked text


def test_0004_upgrades_existing_servers(database_url, tmp_path):
    db = Database(database_url or f"sqlite:///{tmp_path / 'm.db'}")
    cfg = alembic_config(db)
    command.upgrade(cfg, "0003")
    table = sa.Table("compute_instance", sa.MetaData(), autoload_with=db.engine)
    row = {c.name: _value(c) for c in table.columns
           if not c.nullable and not c.primary_key and c.server_default is None}
    row["uuid"] = "11111111-2222-4333-8444-555555555555"
    with db.engine.begin() as conn:
        conn.execute(table.insert().values(**row))
    command.upgrade(cfg, "head")
    table = sa.Table("compute_instance", sa.MetaData(), autoload_with=db.engine)
    with db.engine.connect() as conn:
        got = conn.execute(sa.select(table.c.requested_networks, table.c.security_groups,
                                     table.c.network_info)).one()
    # MariaDB reflects JSON as text: compare decoded values.
    assert [json.loads(v) if isinstance(v, str) else v for v in got] == [[], [], []]
    assert {"network_port", "network_ip_allocation", "compute_key_pair"} <= set(
        sa.inspect(db.engine).get_table_names())
    db.dispose()
