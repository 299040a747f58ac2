"""cinder.conf options we implement, with Cinder's names, groups and defaults."""

from __future__ import annotations

import socket

from oslo_config import cfg

DEFAULT_OPTS = [
    # cinder/common/config.py
    cfg.StrOpt("storage_availability_zone", default="nova"),
    cfg.StrOpt("default_availability_zone"),
    cfg.BoolOpt("allow_availability_zone_fallback", default=False),
    cfg.StrOpt("default_volume_type", default="__DEFAULT__"),
    cfg.StrOpt("default_group_type"),
    cfg.ListOpt("enabled_backends"),
    cfg.StrOpt("host", default=socket.gethostname()),
    cfg.IntOpt("report_interval", default=10),
    # cinder/volume/manager.py: how often cinder-volume reports its backend's capacity
    cfg.IntOpt("backend_stats_polling_interval", default=60, min=3),
    # cinder/service.py; Cinder's default is the CPU count, ours 1 (`stackling start --spread`)
    cfg.IntOpt("osapi_volume_workers", default=1, min=1),
    cfg.IntOpt("service_down_time", default=60),
    # cinder/volume/api.py
    cfg.IntOpt("az_cache_duration", default=3600),
    cfg.BoolOpt("enable_force_upload", default=False),
    # cinder/volume/flows/api/create_volume.py, cinder/scheduler
    cfg.BoolOpt("cloned_volume_same_az", default=True),
    cfg.BoolOpt("snapshot_same_host", default=True),
    cfg.IntOpt("scheduler_max_attempts", default=3),
    cfg.ListOpt("scheduler_default_filters",
                default=["AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter"]),
    cfg.ListOpt("scheduler_default_weighers", default=["CapacityWeigher"]),
    # cinder/quota.py
    cfg.IntOpt("quota_volumes", default=10),
    cfg.IntOpt("quota_snapshots", default=10),
    cfg.IntOpt("quota_gigabytes", default=1000),
    cfg.IntOpt("quota_backups", default=10),
    cfg.IntOpt("quota_backup_gigabytes", default=1000),
    cfg.IntOpt("per_volume_size_limit", default=-1),
    cfg.IntOpt("reservation_expire", default=86400),
    # cinder/api/common.py
    cfg.IntOpt("osapi_max_limit", default=1000),
    # cinder/image/glance.py: retries of a Glance call that got no answer
    cfg.IntOpt("glance_num_retries", default=3, min=0),
    # cinder/image/glance.py: the schemes of an image's direct_url that cinder-volume
    # reads itself instead of downloading the data from glance-api ("file")
    cfg.ListOpt("allowed_direct_url_schemes", default=[]),
]

# Options a backend section ([lvm1] ...) understands; [backend_defaults] supplies defaults.
BACKEND_OPTS = [
    cfg.StrOpt("volume_driver", default="stackling.volume.drivers.file.FileDriver"),
    cfg.StrOpt("volume_backend_name"),
    cfg.StrOpt("backend_availability_zone"),
    cfg.StrOpt("backend_host"),
    cfg.StrOpt("max_over_subscription_ratio", default="20.0"),
    cfg.IntOpt("reserved_percentage", default=0),
    # stackling's file driver: where the volume files live and how big the pool is.
    cfg.StrOpt("volumes_dir"),
    cfg.IntOpt("file_capacity_gb", default=1000),
    cfg.BoolOpt("thin_provisioning_support", default=True),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(DEFAULT_OPTS)
    conf.register_opts(BACKEND_OPTS, group="backend_defaults")


def register_backends(conf: cfg.ConfigOpts) -> None:
    """Register BACKEND_OPTS for every section named in ``enabled_backends``."""
    for name in conf.enabled_backends or []:
        conf.register_opts(BACKEND_OPTS, group=name)
