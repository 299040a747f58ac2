"""nova.conf options we implement, with Nova's names, groups and defaults."""

from __future__ import annotations

import socket

from oslo_config import cfg

DEFAULT_OPTS = [
    # nova/conf/availability_zone.py
    cfg.StrOpt("internal_service_availability_zone", default="internal"),
    cfg.StrOpt("default_availability_zone", default="nova"),
    cfg.StrOpt("default_schedule_zone"),
    # nova/conf/service.py, nova/conf/servicegroup.py
    cfg.IntOpt("report_interval", default=10),
    # nova/conf/service.py; Nova's default is the CPU count, ours 1 (`stackling start --spread`)
    cfg.IntOpt("osapi_compute_workers", default=1, min=1),
    cfg.IntOpt("service_down_time", default=60),
    cfg.StrOpt("host", default=socket.gethostname()),
    # nova/conf/compute.py
    cfg.FloatOpt("cpu_allocation_ratio"),
    cfg.FloatOpt("ram_allocation_ratio"),
    cfg.FloatOpt("disk_allocation_ratio"),
    cfg.FloatOpt("initial_cpu_allocation_ratio", default=4.0),
    cfg.FloatOpt("initial_ram_allocation_ratio", default=1.0),
    cfg.FloatOpt("initial_disk_allocation_ratio", default=1.0),
    cfg.IntOpt("reserved_host_memory_mb", default=512),
    cfg.IntOpt("reserved_host_disk_mb", default=0),
    cfg.IntOpt("reserved_host_cpus", default=0),
    cfg.IntOpt("block_device_allocate_retries", default=60),
    cfg.IntOpt("block_device_allocate_retries_interval", default=3),
    cfg.IntOpt("max_local_block_devices", default=3),
    # builds run at once by one nova-compute (0: no limit)
    cfg.IntOpt("max_concurrent_builds", default=10, min=0),
    cfg.BoolOpt("allow_resize_to_same_host", default=False),
    # 0: offload at shelve; -1: never; > 0: after that many seconds (periodic task).
    cfg.IntOpt("shelved_offload_time", default=0),
    # nova/conf/base.py: the unit of os-instance_usage_audit_log's periods
    cfg.StrOpt("instance_usage_audit_period", default="month"),
]

CINDER_OPTS = [
    # nova/conf/cinder.py
    cfg.BoolOpt("cross_az_attach", default=True),
    cfg.StrOpt("catalog_info", default="volumev3::publicURL"),
    cfg.StrOpt("os_region_name"),
    cfg.IntOpt("http_retries", default=3, min=0),
]

# nova/conf/neutron.py, nova/conf/glance.py: retries of a call that got no answer
NEUTRON_OPTS = [cfg.IntOpt("http_retries", default=3, min=0)]
GLANCE_OPTS = [cfg.IntOpt("num_retries", default=3, min=0)]

QUOTA_OPTS = [
    # nova/conf/quota.py
    cfg.IntOpt("instances", default=10),
    cfg.IntOpt("cores", default=20),
    cfg.IntOpt("ram", default=50 * 1024),
    cfg.IntOpt("metadata_items", default=128),
    cfg.IntOpt("key_pairs", default=100),
    cfg.IntOpt("server_groups", default=10),
    cfg.IntOpt("server_group_members", default=10),
]

FILTER_SCHEDULER_OPTS = [
    # nova/conf/scheduler.py
    cfg.ListOpt("enabled_filters", default=[
        "ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
        "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"]),
    cfg.IntOpt("host_subset_size", default=1),
    cfg.FloatOpt("ram_weight_multiplier", default=1.0),
]

SCHEDULER_OPTS = [
    cfg.IntOpt("max_attempts", default=3),
]

CONSOLEAUTH_OPTS = [
    # nova/conf/consoleauth.py: how long a console URL's token is valid
    cfg.IntOpt("token_ttl", default=600, min=0),
]

API_OPTS = [
    cfg.IntOpt("max_limit", default=1000),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(DEFAULT_OPTS)
    conf.register_opts(CINDER_OPTS, group="cinder")
    conf.register_opts(NEUTRON_OPTS, group="neutron")
    conf.register_opts(GLANCE_OPTS, group="glance")
    conf.register_opts(QUOTA_OPTS, group="quota")
    conf.register_opts(FILTER_SCHEDULER_OPTS, group="filter_scheduler")
    conf.register_opts(SCHEDULER_OPTS, group="scheduler")
    conf.register_opts(API_OPTS, group="api")
    conf.register_opts(CONSOLEAUTH_OPTS, group="consoleauth")
