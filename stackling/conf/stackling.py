"""stackling.conf: our own options, plus the Keystone options we honour under their names."""

from __future__ import annotations

from oslo_config import cfg

STACKLING_OPTS = [
    cfg.StrOpt("behaviour_release", default="current",
               choices=["current", "mitaka", "liberty"],
               help="Which OpenStack release's zone behaviour to reproduce."),
    cfg.StrOpt("region_name", default="RegionOne"),
]

BOOTSTRAP_OPTS = [
    cfg.StrOpt("admin_username", default="admin"),
    cfg.StrOpt("admin_password", default="secret", secret=True),
    cfg.StrOpt("admin_project", default="admin"),
    cfg.StrOpt("demo_username", default="demo"),
    cfg.StrOpt("demo_password", default="secret", secret=True),
    cfg.StrOpt("demo_project", default="demo"),
]

TOKEN_OPTS = [
    # keystone/conf/token.py
    cfg.IntOpt("expiration", default=3600),
]

IDENTITY_OPTS = [
    # keystone/conf/identity.py: bcrypt's own default cost is 12.
    cfg.IntOpt("password_hash_rounds", default=12, min=4, max=31),
]


DATABASE_OPTS = [
    # oslo.db's name; --database-url overrides it. Unset: SQLite in the data dir.
    cfg.StrOpt("connection", secret=True),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(DATABASE_OPTS, group="database")
    conf.register_opts(STACKLING_OPTS, group="stackling")
    conf.register_opts(BOOTSTRAP_OPTS, group="bootstrap")
    conf.register_opts(TOKEN_OPTS, group="token")
    conf.register_opts(IDENTITY_OPTS, group="identity")
