"""Block Storage (Cinder v3): the API, cinder-scheduler and one cinder-volume per backend."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stackling import servicegroup
from stackling.volume.api.routes import build_app  # noqa: F401

if TYPE_CHECKING:
    from stackling.cloud import Cloud

LOG = logging.getLogger(__name__)


def setup(cloud: Cloud, fresh: bool) -> None:
    """Seed the default volume type (idempotent, so an upgraded database gets it too)."""
    from stackling.volume.api import group_types, types

    types.seed_default(cloud)
    group_types.seed_default(cloud)


def start(cloud: Cloud) -> None:
    """Register cinder-scheduler and each backend's cinder-volume; wire their RPC topics."""
    from stackling.volume import manager, scheduler
    from stackling.volume.objects import backends

    conf = cloud.config.cinder
    if cloud.only.runs("cinder-scheduler"):
        sched_id = servicegroup.register(cloud, servicegroup.ServiceSpec(
            project="cinder", binary="cinder-scheduler", host=cloud.topology.controller,
            availability_zone=conf.storage_availability_zone))
        cloud.heartbeat.add(sched_id, conf.storage_availability_zone)
        cloud.rpc.register(backends.SCHEDULER_TOPIC, scheduler.SchedulerManager(cloud))
    for spec in backends.backends(cloud):
        if not cloud.only.runs_backend(spec.name):
            continue
        sid = servicegroup.register(cloud, servicegroup.ServiceSpec(
            project="cinder", binary=backends.VOLUME_TOPIC, host=spec.name,
            availability_zone=spec.availability_zone))
        cloud.heartbeat.add(sid, spec.availability_zone)
        mgr = manager.VolumeManager(cloud, spec)
        cloud.rpc.register(f"{backends.VOLUME_TOPIC}.{spec.name}", mgr)
        # Capacity goes to the scheduler once the RPC server is up (Cinder's
        # init_host_with_rpc: the scheduler places nothing on a backend whose queue does
        # not exist yet, and RabbitMQ drops what it cannot route), then periodically, as
        # Cinder's _report_driver_status does; between reports the scheduler sums what it
        # placed.
        mgr.report()
        cloud.heartbeat.every(conf.backend_stats_polling_interval, mgr.report_quietly)
        # The backends this process runs: their start-up repair (stackling.recovery).
        cloud.__dict__.setdefault("volume_managers", {})[spec.name] = mgr
        LOG.info("cinder-volume %s started in zone %s (%s)", spec.name,
                 spec.availability_zone, spec.volumes_dir)

