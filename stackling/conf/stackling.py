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

# keystone/conf/eventlet_server.py until Newton, when Keystone still served itself; since
# then the web server's processes (uwsgi `processes`). Used by `stackling start --spread`.
EVENTLET_SERVER_OPTS = [
    cfg.IntOpt("public_workers", default=1, min=1),
]

IDENTITY_OPTS = [
    # keystone/conf/identity.py: bcrypt's own default cost is 12.
    cfg.IntOpt("password_hash_rounds", default=12, min=4, max=31),
]


FAKE_DRIVER_OPTS = [
    # A hypervisor needs time to write a running guest's disk to an image; clients (and
    # tempest's "delete while SAVING" / "second image while the first is saved" tests)
    # see the server in task_state image_snapshot and the image SAVING for that long.
    cfg.FloatOpt("snapshot_seconds", default=1.0, min=0.0,
                 help="How long the fake hypervisor takes to snapshot a guest's disk "
                      "(createImage, createBackup)."),
]


DATABASE_OPTS = [
    # oslo.db's name; --database-url overrides it. Unset: SQLite in the data dir.
    cfg.StrOpt("connection", secret=True),
    # oslo.db's pool options for PostgreSQL and MariaDB. oslo.db defaults to 5 + 50; ours
    # stay at 10 + 20: with 5 + 50, 200 concurrent port creates on one process took more
    # than PostgreSQL's default max_connections (100) and answered 500. SQLite keeps at
    # least 32 connections and opens more without a limit: its connections are file
    # handles, and a bounded pool let 32 busy clients wait 30 s for one and fail with 500.
    cfg.IntOpt("max_pool_size", default=10, min=0),
    cfg.IntOpt("max_overflow", default=20, min=-1),
    cfg.IntOpt("pool_timeout", default=30, min=1),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(DATABASE_OPTS, group="database")
    conf.register_opts(STACKLING_OPTS, group="stackling")
    conf.register_opts(BOOTSTRAP_OPTS, group="bootstrap")
    conf.register_opts(TOKEN_OPTS, group="token")
    conf.register_opts(IDENTITY_OPTS, group="identity")
    conf.register_opts(EVENTLET_SERVER_OPTS, group="eventlet_server")
    conf.register_opts(FAKE_DRIVER_OPTS, group="fake_driver")
