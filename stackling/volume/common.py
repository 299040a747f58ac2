"""What every Cinder handler shares: policy rules, the per-cloud API state, backends, lookups."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oslo_config import cfg
from sqlalchemy import or_, select

from stackling import exception, policy, servicegroup
from stackling.db.models import Service
from stackling.db.models_volume import Snapshot, Volume, VolumeType
from stackling.volume import errors, zones

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackling.cloud import Cloud
    from stackling.web.app import Request

ADMIN = policy.ADMIN
OWNER_MEMBER = "role:admin or (role:member and owner)"
OWNER_READER = "role:admin or (role:reader and owner)"
policy.register({
    "volume:create": OWNER_MEMBER, "volume:create_from_image": OWNER_MEMBER,
    "volume:get": OWNER_READER, "volume:get_all": OWNER_READER,
    "volume:update": OWNER_MEMBER, "volume:delete": OWNER_MEMBER,
    "volume:force_delete": ADMIN, "volume:extend": OWNER_MEMBER,
    "volume_extension:volume_admin_actions:reset_status": ADMIN,
    "volume_extension:volume_actions:upload_image": OWNER_MEMBER,
    "volume:update_volume_metadata": OWNER_MEMBER,
    "volume:create_snapshot": OWNER_MEMBER, "volume:get_snapshot": OWNER_READER,
    "volume:get_all_snapshots": OWNER_READER, "volume:update_snapshot": OWNER_MEMBER,
    "volume:delete_snapshot": OWNER_MEMBER,
    "volume_extension:snapshot_admin_actions:reset_status": ADMIN,
    "volume_extension:types_manage": ADMIN,
    "volume_extension:volume_type_encryption": ADMIN,
    "volume_extension:types_extra_specs:create": ADMIN,
    "volume_extension:types_extra_specs:index": policy.ANY,
    "volume_extension:type_get": policy.ANY, "volume_extension:type_get_all": policy.ANY,
    "volume_extension:services:index": ADMIN, "volume_extension:services:update": ADMIN,
    "volume_extension:quotas:show": OWNER_READER, "volume_extension:quotas:update": ADMIN,
    "volume_extension:quotas:delete": ADMIN, "limits_extension:used_limits": OWNER_READER,
    "message:get": OWNER_READER, "message:get_all": OWNER_READER,
    "message:delete": OWNER_MEMBER, "volume:get_all_admin": ADMIN,
})

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                     r"[0-9a-fA-F]{12}$")
VOLUME_TOPIC = "cinder-volume"
SCHEDULER_TOPIC = "cinder-scheduler"


def authorize(req: Request, action: str, target: dict | None = None) -> None:
    policy.authorize(req.context, action, target)


# -- backends --------------------------------------------------------------------------


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
    """Topology backends plus every ``enabled_backends`` section of cinder.conf."""
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

    for b in cloud.topology.volume_backends:
        spec = BackendSpec(
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
    return list(out.values())


def down_time(cloud: Cloud) -> int:
    c = cloud.config.cinder
    return servicegroup.effective_down_time(c.report_interval, c.service_down_time)


def list_availability_zones(cloud: Cloud) -> list[dict]:
    """Zones of every cinder-volume row, down or disabled included (uncached)."""
    with cloud.db.reader() as s:
        rows = s.scalars(select(Service).where(Service.project == "cinder",
                                               Service.topic == VOLUME_TOPIC)).all()
    found: dict[str, bool] = {}
    for row in rows:
        if row.availability_zone is None:
            continue
        found[row.availability_zone] = found.get(row.availability_zone, False) or \
            not row.disabled
    return [{"name": name, "available": avail} for name, avail in sorted(found.items())]


class VolumeApiState:
    """What one cinder-api process keeps in memory: the create path's zone cache."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        conf = cloud.config.cinder
        self.zone_cache = zones.ZoneCache(lambda: list_availability_zones(cloud),
                                          conf.az_cache_duration)

    def zone_options(self) -> zones.ZoneOptions:
        c = self.cloud.config.cinder
        return zones.ZoneOptions(
            storage_availability_zone=c.storage_availability_zone,
            default_availability_zone=c.default_availability_zone,
            allow_availability_zone_fallback=c.allow_availability_zone_fallback,
            cloned_volume_same_az=c.cloned_volume_same_az,
            release=self.cloud.config.stackling.stackling.behaviour_release)

    def valid_zones(self, refresh: bool = False) -> set[str]:
        return self.zone_cache.names(refresh) | {
            self.cloud.config.cinder.storage_availability_zone}


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state(cloud: Cloud) -> VolumeApiState:
    """This process's cinder-api state (kept here, not on the shared Cloud)."""
    st = _STATES.get(cloud)
    if st is None:
        st = _STATES[cloud] = VolumeApiState(cloud)
    return st


# -- lookups ---------------------------------------------------------------------------


def get_volume(s: Session, req: Request, volume_id: str) -> Volume:
    row = s.get(Volume, volume_id)
    ctx = req.context
    if row is None or (not ctx.is_admin and row.project_id != ctx.project_id):
        raise errors.VolumeNotFound(volume_id=volume_id)
    return row


def get_snapshot(s: Session, req: Request, snapshot_id: str) -> Snapshot:
    row = s.get(Snapshot, snapshot_id)
    ctx = req.context
    if row is None or (not ctx.is_admin and row.project_id != ctx.project_id):
        raise errors.SnapshotNotFound(snapshot_id=snapshot_id)
    return row


def type_visible(row: VolumeType, context) -> bool:
    """Admins see every type; others public ones and private ones shared with them."""
    return context.is_admin or row.is_public or \
        context.project_id in (row.projects or [])


def find_type(s: Session, ref: str, context=None) -> VolumeType:
    """A volume type by id or name (404 with Cinder's by-id or by-name text).

    With a ``context``, a private type not shared with its project is not found (Cinder's
    project-scoped type lookup)."""
    row = s.get(VolumeType, ref)
    if row is None:
        row = s.scalar(select(VolumeType).where(VolumeType.name == ref))
    if row is not None and context is not None and not type_visible(row, context):
        row = None
    if row is None:
        if UUID_RE.match(ref):
            raise errors.VolumeTypeNotFound(volume_type_id=ref)
        raise errors.VolumeTypeNotFoundByName(volume_type_name=ref)
    return row


def default_type(cloud: Cloud, s: Session) -> VolumeType:
    name = cloud.config.cinder.default_volume_type
    row = s.scalar(select(VolumeType).where(or_(VolumeType.name == name,
                                                VolumeType.id == name)))
    if row is None:
        raise exception.StacklingError(f"Default volume type {name} not found.")
    return row


def type_dict(row: VolumeType | None) -> dict | None:
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "extra_specs": dict(row.extra_specs or {}),
            "is_public": row.is_public, "description": row.description}


def is_true(value) -> bool:
    return str(value).strip().lower() in ("1", "t", "true", "on", "y", "yes")
