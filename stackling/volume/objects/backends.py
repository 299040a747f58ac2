"""The cinder-volume backends (topology + cinder.conf) and the zones their services give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oslo_config import cfg
from sqlalchemy import select

from stackling import servicegroup
from stackling.db.models import Service
from stackling.topology import VolumeBackend

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud

VOLUME_TOPIC = "cinder-volume"
SCHEDULER_TOPIC = "cinder-scheduler"


@dataclass
class BackendSpec:
    """One cinder-volume service: ``host@backend`` with its zone and capacity options."""

    host: str
    backend: str
    availability_zone: str
    volume_backend_name: str
    capacity_gb: int
    reserved_percentage: int
    max_over_subscription_ratio: float
    thin_provisioning_support: bool
    volumes_dir: Path

    @property
    def name(self) -> str:
        return f"{self.host}@{self.backend}"

    @property
    def pool(self) -> str:
        return self.volume_backend_name


def _operator_host(conf: cfg.ConfigOpts) -> str | None:
    """``[DEFAULT] host`` when the operator wrote it (not the hostname default)."""
    try:
        loc = conf.get_location("host")
    except Exception:
        return None
    if loc is None or loc.location == cfg.Locations.opt_default:
        return None
    return conf.host


def backends(cloud: Cloud) -> list[BackendSpec]:
    """Topology backends, every ``enabled_backends`` section of cinder.conf and the
    backends of ``--only cinder-volume=HOST@BACKEND`` declared in neither."""
    conf = cloud.config.cinder
    defaults = conf.backend_defaults
    storage_az = conf.storage_availability_zone
    out: dict[str, BackendSpec] = {}
    data = cloud.settings.data_dir / "volumes"

    def ratio(value: str) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return 20.0

    def declared(b) -> BackendSpec:
        return BackendSpec(
            host=b.host, backend=b.backend,
            availability_zone=b.availability_zone or defaults.backend_availability_zone
            or storage_az,
            volume_backend_name=b.volume_backend_name or defaults.volume_backend_name
            or b.backend,
            capacity_gb=b.capacity_gb, reserved_percentage=defaults.reserved_percentage,
            max_over_subscription_ratio=ratio(defaults.max_over_subscription_ratio),
            thin_provisioning_support=defaults.thin_provisioning_support,
            volumes_dir=Path(defaults.volumes_dir) if defaults.volumes_dir else
            data / f"{b.host}@{b.backend}")

    for b in cloud.topology.volume_backends:
        spec = declared(b)
        out[spec.name] = spec
    for section in conf.enabled_backends or []:
        grp = conf[section]
        host = grp.backend_host or _operator_host(conf) or cloud.topology.controller
        spec = BackendSpec(
            host=host, backend=section,
            availability_zone=grp.backend_availability_zone or storage_az,
            volume_backend_name=grp.volume_backend_name or section,
            capacity_gb=grp.file_capacity_gb, reserved_percentage=grp.reserved_percentage,
            max_over_subscription_ratio=ratio(grp.max_over_subscription_ratio),
            thin_provisioning_support=grp.thin_provisioning_support,
            volumes_dir=Path(grp.volumes_dir) if grp.volumes_dir else
            data / f"{host}@{section}")
        out[spec.name] = spec
    for name in sorted((cloud.only.volume_backends or set()) - set(out)):
        # ``--only cinder-volume=HOST@BACKEND`` of a backend declared nowhere: a machine
        # joining the cloud, with [backend_defaults] as a topology backend has them.
        host, _, backend = name.partition("@")
        out[name] = declared(VolumeBackend(host=host, backend=backend))
    return list(out.values())


def down_time(cloud: Cloud) -> int:
    c = cloud.config.cinder
    return servicegroup.effective_down_time(c.report_interval, c.service_down_time)


_SERVICE = Service.__table__
# Built once, Core (read-only rows): read by every volume create (zone record, scheduler).
_VOLUME_SERVICES = select(_SERVICE).where(_SERVICE.c.project == "cinder",
                                          _SERVICE.c.topic == VOLUME_TOPIC)


def volume_services(s: Session) -> list[Row]:
    """Every cinder-volume service row (read-only rows)."""
    return s.execute(_VOLUME_SERVICES).all()


def list_availability_zones(cloud: Cloud) -> list[dict]:
    """Zones of every cinder-volume row, down or disabled included (uncached)."""
    with cloud.db.reader() as s:
        rows = volume_services(s)
    found: dict[str, bool] = {}
    for row in rows:
        if row.availability_zone is None:
            continue
        found[row.availability_zone] = found.get(row.availability_zone, False) or \
            not row.disabled
    return [{"name": name, "available": avail} for name, avail in sorted(found.items())]


def is_true(value) -> bool:
    return str(value).strip().lower() in ("1", "t", "true", "on", "y", "yes")
