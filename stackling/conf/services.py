"""Options the service files share: ``[DEFAULT] transport_url``, ``[keystone_authtoken]``.

Names and meanings are oslo.messaging's and keystonemiddleware's/keystoneauth's. Our own
copy of them decides which seam implementation runs without importing either library;
oslo.messaging then reads the same file itself (its ``[oslo_messaging_rabbit]`` options).
"""

from __future__ import annotations

from oslo_config import cfg

MESSAGING_OPTS = [
    # oslo_messaging/transport.py; unset here (oslo's default is rabbit://) = in-process.
    cfg.StrOpt("transport_url", secret=True),
    cfg.StrOpt("control_exchange", default="openstack"),
]

AUTHTOKEN_OPTS = [
    # keystonemiddleware/auth_token/_opts.py and keystoneauth1's password plugin options.
    cfg.StrOpt("www_authenticate_uri"),
    cfg.StrOpt("auth_url"),
    cfg.StrOpt("auth_type", default="password"),
    cfg.StrOpt("username"),
    cfg.StrOpt("password", secret=True),
    cfg.StrOpt("project_name"),
    cfg.StrOpt("user_domain_name"),
    cfg.StrOpt("project_domain_name"),
    cfg.StrOpt("user_domain_id"),
    cfg.StrOpt("project_domain_id"),
    cfg.StrOpt("region_name"),
    cfg.IntOpt("token_cache_time", default=300),
    cfg.ListOpt("memcached_servers"),
    cfg.StrOpt("service_type"),
]

# keystoneauth1's password plugin: the service user one service calls another as
# (nova.conf [neutron], cinder.conf [nova]).
SERVICE_USER_OPTS = [o for o in AUTHTOKEN_OPTS if o.name in (
    "auth_url", "auth_type", "username", "password", "project_name", "user_domain_name",
    "project_domain_name", "user_domain_id", "project_domain_id", "region_name")]
# The section of each project's file that names it: Nova calls Neutron, Cinder calls Nova.
SERVICE_USER_GROUPS = {"nova": "neutron", "cinder": "nova"}

# Sections read by the libraries themselves: no "unknown option" warning for them.
LIBRARY_SECTIONS = ("oslo_messaging_rabbit", "oslo_messaging_notifications",
                    "oslo_messaging_tracing", "oslo_messaging_metrics",
                    "oslo_messaging_amqp", "oslo_concurrency")


# glance/common/wsgi.py, neutron/conf/service.py: the API's processes. The services'
# defaults are the CPU count; ours 1 (`stackling start --spread`).
GLANCE_OPTS = [
    cfg.IntOpt("workers", default=1, min=1),
    # glance/common/config.py: show each image's store location (``direct_url``) to
    # every user who can see the image; off by default, as it exposes store paths.
    cfg.BoolOpt("show_image_direct_url", default=False),
]
NEUTRON_OPTS = [cfg.IntOpt("api_workers", default=1, min=1)]


def register_glance(conf: cfg.ConfigOpts) -> None:
    """glance-api.conf: the API's workers, ``show_image_direct_url`` and its
    [keystone_authtoken]."""
    conf.register_opts(GLANCE_OPTS)
    register_authtoken(conf)


def register_neutron(conf: cfg.ConfigOpts) -> None:
    """neutron.conf: the API's workers and its [keystone_authtoken]."""
    conf.register_opts(NEUTRON_OPTS)
    register_authtoken(conf)


def register_messaging(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(MESSAGING_OPTS)


def register_authtoken(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(AUTHTOKEN_OPTS, group="keystone_authtoken")


def register_service_user(conf: cfg.ConfigOpts, group: str) -> None:
    conf.register_opts(SERVICE_USER_OPTS, group=group)


def authtoken_configured(conf: cfg.ConfigOpts, group: str = "keystone_authtoken") -> bool:
    """keystonemiddleware (or keystoneauth, for [neutron] / [nova]) needs at least
    auth_url, a user and a password."""
    a = conf[group]
    return bool(a.auth_url and a.username and a.password)
